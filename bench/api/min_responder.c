/* The reference for bench/api: the smallest useful FastCGI responder. It answers
 * every request with the same task-shaped JSON, so the benchmark measures what
 * nginx + FastCGI + spawn-fcgi cost on their own. */
#include <fcgiapp.h>

static const char reply[] =
	"Status: 200 OK\r\n"
	"Content-Type: application/json\r\n"
	"Luna-Request-Id: 1700000000,8b8b5937-2e9c-4e8b-a7a7-5caf86621b5a\r\n"
	"\r\n"
	"{\"task_id\": 1, \"task_type\": 2, \"task_status\": 0, "
	"\"create_time\": \"2024-01-01T00:00:00.000000+00:00\", "
	"\"last_update_time\": \"2024-01-01T00:00:00.000000+00:00\", \"end_time\": null, "
	"\"result_id\": null, \"account_id\": \"8b8b5937-2e9c-4e8b-a7a7-5caf86621b5a\", "
	"\"count_task_parts_done\": 0, \"count_task_parts_all\": 1, \"description\": \"bench\", "
	"\"content\": {\"objects_type\": \"faces\", \"filters\": "
	"{\"account_id\": \"8b8b5937-2e9c-4e8b-a7a7-5caf86621b5a\"}, \"threshold\": 0.81}}";

int main(void)
{
	FCGX_Stream *in, *out, *err;
	FCGX_ParamArray envp;
	while (FCGX_Accept(&in, &out, &err, &envp) >= 0)
		FCGX_PutStr(reply, (int)sizeof(reply) - 1, out);
	return 0;
}
