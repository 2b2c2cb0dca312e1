"""report: what people read. Figures (plot/), Chrome/Perfetto traces (trace) and terminal
tables (tables). Reporting only reads results (Analysis, Comparison, sweep frames,
calibration and plan results): it never predicts, measures, compares or runs a model; a
figure that needs a result on another spec or against a measurement is given it.

May import: roofline.errors, roofline.units, roofline._io, roofline.count's constants
(categories, compute units), roofline.predict's constants, and the result types of
analysis and measure (and their constants, such as measure.compare's error targets).
Never capture or calibrate, nor tools or cli.
"""
