/* Buckets of the subtask run time histogram (see task_metrics.h). */
#include "common/task_metrics.h"

const double subtask_duration_bounds[SUBTASK_DURATION_BUCKETS] = {0.01, 0.05, 0.1, 0.25, 0.5, 1,   2.5,  5,
								  10,   30,   60,  120,  300, 600, 1800, 3600};
const char *const subtask_duration_labels[SUBTASK_DURATION_BUCKETS + 1] = {
	"0.01", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60", "120", "300", "600", "1800", "3600",
	"+Inf"};

unsigned subtask_duration_bucket(double seconds)
{
	unsigned b = 0;
	while (b < SUBTASK_DURATION_BUCKETS && seconds > subtask_duration_bounds[b])
		b++;
	return b;
}
