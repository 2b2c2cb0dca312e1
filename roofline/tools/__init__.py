"""tools: what users build on an analysis. Size sweeps (sweep), sympy closed forms and
crossovers (closed_form), data/tensor/pipeline-parallel plans (parallel), LLM serving
estimates from captured prefill and decode steps (llm), the analyse + measure + compare
pipeline (validate).

May import every stage (capture, count, hardware, predict, analysis, measure, report);
no stage imports tools.
"""
