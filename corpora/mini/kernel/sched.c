/*
 * A 2.4-style scheduler: one run queue, goodness(), a hand-written schedule().
 */
#include <linux/sched.h>
#include <linux/wait.h>

static LIST_HEAD(runqueue_head);
struct task_struct *cpu_tasks[4];
static int nr_running;
unsigned long volatile jiffies;

static inline int goodness(struct task_struct *p, struct mm_struct *this_mm)
{
	int weight = p->counter;

	if (p->mm == this_mm || !p->mm)
		weight += 1;
	weight += 20 - p->nice;
	return weight;
}

static inline void add_to_runqueue(struct task_struct *p)
{
	list_add(&p->run_list, &runqueue_head);
	nr_running++;
}

int wake_up_process(struct task_struct *p)
{
	p->state = TASK_RUNNING;
	add_to_runqueue(p);
	return 1;
}

static void switch_to(struct task_struct *prev, struct task_struct *next)
{
	cpu_tasks[0] = next;
	prev->times.stime++;
}

asmlinkage void schedule(void)
{
	struct task_struct *prev, *next, *p;
	struct list_head *tmp;
	int c;

	prev = current;
repeat_schedule:
	next = prev;
	c = -1000;
	list_for_each(tmp, &runqueue_head) {
		p = list_entry(tmp, struct task_struct, run_list);
		int weight = goodness(p, prev->active_mm);
		if (weight > c)
			c = weight, next = p;
	}
	if (!c)
		goto repeat_schedule;
#ifdef CONFIG_SMP
	next->has_cpu = 1;
	next->processor = 0;
#endif
	if (prev != next)
		switch_to(prev, next);
}

signed long schedule_timeout(timeout)
	signed long timeout;
{
	unsigned long expire;

	if (timeout == MAX_SCHEDULE_TIMEOUT) {
		schedule();
		return 0;
	}
	expire = timeout + jiffies;
	schedule();
	timeout = expire - jiffies;
	return timeout < 0 ? 0 : timeout;
}

void __wake_up(wait_queue_head_t *q, unsigned int mode, int nr)
{
	struct list_head *tmp;

	list_for_each(tmp, &q->task_list) {
		wait_queue_t *curr = list_entry(tmp, wait_queue_t, task_list);
		struct task_struct *p = curr->task;
		if (p->state & mode)
			wake_up_process(p);
	}
}

void add_wait_queue(wait_queue_head_t *q, wait_queue_t *wait)
{
	list_add(&wait->task_list, &q->task_list);
}

void remove_wait_queue(wait_queue_head_t *q, wait_queue_t *wait)
{
	list_del(&wait->task_list);
}

void __init sched_init(void)
{
	int cpu;

	for (cpu = 0; cpu < 4; cpu++)
		cpu_tasks[cpu] = NULL;
	nr_running = 0;
}
