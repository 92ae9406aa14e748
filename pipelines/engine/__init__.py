"""The experiment engine of the pipelines (not part of the installed toolkit): staged runs
with up-to-date checks (:mod:`.pipeline`), the stage factories (:mod:`.stages`), where the
shared data lives (:mod:`.paths`) and the options every pipeline script takes
(:mod:`.options`)."""
