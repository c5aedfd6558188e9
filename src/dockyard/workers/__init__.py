"""Background work shared by replicas: jobs that run on one replica at a time, through the database.

``scheduler.Scheduler`` runs :class:`~dockyard.workers.scheduler.Job` values (a name, an interval, an
async function) under leases kept in the ``jobs`` table (:class:`dockyard.ports.JobLeases`). Every replica
runs a scheduler with the same jobs; for each due run one replica wins the lease, renews it while the run
lasts and moves the job's due time on when it finishes. A replica that dies stops renewing, its lease
lapses, and another replica runs the job again. Jobs must therefore be idempotent (run again after an
interruption, they do no harm): expiry of abandoned uploads now; garbage collection, lifecycle policies
and scans later, each one more :class:`Job`.
"""
