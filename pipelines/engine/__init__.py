"""The experiment engine of the pipelines (not part of the installed toolkit): staged runs
with up-to-date checks (:mod:`.pipeline`), the stage factories (:mod:`.stages`), where the
shared data lives (:mod:`.paths`), the options every pipeline script takes
(:mod:`.options`) and a runner of commands whose order is decided as the run goes
(:mod:`.runner`, multi30k_mixed's: each stage queued as soon as what it reads exists)."""
