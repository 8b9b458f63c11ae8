/* A modern kernel thread: kthread_run() and schedule_timeout() in a loop. */
#include <linux/sched.h>

static int reclaim_interval = HZ;
static int reclaimed;

static notrace void reclaim_one(void)
{
	reclaimed++;
}

static int reclaimd(void *data)
{
	while (1) {
		reclaim_one();
		set_current_state(TASK_INTERRUPTIBLE);
		schedule_timeout(reclaim_interval);
	}
	return 0;
}

int reclaimd_start(void)
{
	struct task_struct *t = kthread_run(reclaimd, NULL, "reclaimd");

	return t ? 0 : -1;
}
