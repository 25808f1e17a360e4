"""Domain types under both the API and the executors: what a job is, whoever runs or asks for it.

One small module per idea: ``ids`` (FLUIDs), ``states`` (job states and results), ``request``
(:class:`~.request.JobRequest`), ``owner`` (:class:`~.owner.Owner` and system accounts),
``events`` (eventlog events and output lines), ``record`` (the job-list record and its search
text), ``environment`` (the job environment allowlist), ``resources`` (resource limits and
nodes), ``query`` (listing filters and pages) and ``errors`` (what an executor raises). These
modules import only the standard library, ``limits`` and each other; nothing here knows HTTP,
Sanic, auth or an executor.
"""
