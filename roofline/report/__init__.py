"""report: what people read. Figures (plot/), Chrome/Perfetto traces (trace) and terminal
tables (tables). Reporting only reads results (Analysis, Comparison, frames); it never
computes predictions or runs models.

May import: roofline.errors, roofline.units, roofline.count.categories, and the result
types of analysis and measure. Never capture or calibrate.
"""
