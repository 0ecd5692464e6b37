"""The names of the per-tensor step summaries, torch-free.

One place for the field names that model runs (:mod:`gdtui.engine.layer_stats`), the record
files of :func:`gdtui.watch` and their reader (:mod:`gdtui.recordfile`) and the per-layer panel
all use, in this order: backprop's half (‖∇‖) then the optimizer's (‖θ‖, ‖Δ‖, ‖Δ‖/‖θ‖,
cos(−∇, Δ), and the spread of the effective per-element learning rate |Δ|/|∇|).
"""

SUMMARY_FIELDS = (
    "grad_norm",
    "param_norm",
    "update_norm",
    "ratio",
    "cos",
    "eff_lr_median",
    "eff_lr_p10",
    "eff_lr_p90",
)
