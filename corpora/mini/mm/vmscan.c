/* kswapd: a kernel thread that never returns, 2.4 style. */
#include <linux/sched.h>
#include <linux/wait.h>

static wait_queue_head_t kswapd_wait;
static int free_pages_low;

static int shrink_caches(int priority)
{
	return priority > 0 ? free_pages_low - priority : 0;
}

static int kswapd_balance(void)
{
	int progress = 0;
	int priority;

	for (priority = 6; priority > 0; priority--)
		progress += shrink_caches(priority);
	return progress;
}

int kswapd(void *unused)
{
	struct task_struct *tsk = current;

	tsk->flags |= 0x800;
	for (;;) {
		kswapd_balance();
		wait_event(kswapd_wait, free_pages_low > 0);
	}
}

void wakeup_kswapd(void)
{
	if (free_pages_low > 0)
		wake_up_interruptible(&kswapd_wait);
}

static int __init kswapd_init(void)
{
	init_waitqueue_head(&kswapd_wait);
	kernel_thread(kswapd, NULL, CLONE_FS | CLONE_FILES);
	return 0;
}
