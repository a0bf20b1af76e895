/* The counters the scheduler keeps in the tasks database (table
 * metric_counter, sql/tasks/009 and 011) and GET /metrics reads: rows per
 * (metric, task type, label) whose values only grow, one per shard, summed
 * by the scrape. The scheduler adds to them in the transactions that make
 * the events they count, so a count is exact across any number of
 * schedulers and survives their restarts. */
#ifndef LUNA_TASK_METRICS_H
#define LUNA_TASK_METRICS_H

/* Subtask run times, a histogram by task type: one row per bucket (label: its
 * upper bound, not cumulative; "+Inf" above the last) and one for the sum
 * (label "sum", seconds). */
/* Rows of one counter: a connection adds to shard CONNECTION_ID() MOD this,
 * so events committed at once on different connections lock different rows. */
#define METRIC_SHARDS 32

#define METRIC_SUBTASK_DURATION "subtask_duration"
#define METRIC_LABEL_SUM "sum"
#define SUBTASK_DURATION_BUCKETS 16
extern const double subtask_duration_bounds[SUBTASK_DURATION_BUCKETS];
/* The bounds as labels, then "+Inf". */
extern const char *const subtask_duration_labels[SUBTASK_DURATION_BUCKETS + 1];
/* The bucket of a run time: 0..SUBTASK_DURATION_BUCKETS (the last: +Inf). */
unsigned subtask_duration_bucket(double seconds);

/* Subtask leases found expired by recovery, by what became of the subtask
 * (label "retried", "failed" or "cancelled"). */
#define METRIC_LEASE_EXPIRIES "lease_expiries"
/* Subtasks sent back to pending for another attempt, by why (label
 * "lease_expired" or "transient_error"). */
#define METRIC_SUBTASK_RETRIES "subtask_retries"
/* Due times of schedules, by the type of their task and what became of them
 * (label "created": a task was created; "refused": its task body was refused
 * then; "missed": it passed while no scheduler ran and was not run). */
#define METRIC_SCHEDULE_RUNS "schedule_runs"
/* Attempts to deliver a notification callback, by the type of its task and
 * outcome (label "delivered", "retried": failed and tried again later, or
 * "failed": failed and given up after [NOTIFICATIONS] MAX_ATTEMPTS). */
#define METRIC_NOTIFICATION_DELIVERIES "notification_deliveries"
#endif
