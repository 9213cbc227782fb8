"""The sync engine: from employees and a sink to a reviewed `Plan`, then to a `SyncReport`.

Where things live, in the order a run uses them:

- ``_source.py`` — reading every employee from a source (a `LuccaDirectory` or any iterable);
  a short or failed read raises, per-record decode errors become plan errors;
- ``_sync_state.py`` / ``_incremental.py`` — the state an incremental run keeps between runs
  (watermark, known ids) and when a run must read everyone again;
- ``_gc.py`` — pausing the garbage collector while a large read is held in memory;
- ``_plan.py`` — `plan()`: read, then hand over to the planner, then check the safety limits;
- ``_planner.py`` — the planner's passes: classify (former, excluded, kept), match target
  users (key, then ``match_by`` adoption), managers, field diff, suspensions;
- ``_managers.py`` — manager references resolved against the synced set (``manager_fallback``);
- ``_plan_model.py`` — the `Plan` and its actions (`Create`, `Update`, `Suspend` …), JSON form
  and digest;
- ``_history.py`` — the run history: one `RunRecord` per applied plan, kept by the sink, and
  the rolling window the safety limits measure on it;
- ``_measures.py`` — what the limits measure beyond counts: field changes, empty mapped fields;
- ``_safety.py`` — `Safety`: the limits a plan must stay within, the `SafetyError` it raises,
  and how a reviewed plan is approved;
- ``_apply.py`` — `apply()` and `sync()`: carry out a plan on a sink, managers first, and
  report every outcome (`SyncReport`).

Dependencies point down the pipeline: the engine imports the Lucca reader, rules and mapping,
and knows sinks only through :class:`lucca_sync.sinks.Sink`.
"""
