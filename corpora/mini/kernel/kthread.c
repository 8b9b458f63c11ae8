/* Kernel threads: the 2.4 way (kernel_thread) and the modern one (kthread_create). */
#include <linux/sched.h>
#include <linux/slab.h>

int kernel_thread(int (*fn)(void *), void *arg, unsigned long flags)
{
	struct task_struct *p = kmalloc(sizeof(*p), GFP_KERNEL);

	if (!p)
		return -12;
	p->state = TASK_RUNNING;
	p->pid = 1;
	wake_up_process(p);
	return fn(arg);
}

struct task_struct *kthread_create(int (*threadfn)(void *data), void *data, const char *name)
{
	struct task_struct *k = kmalloc(sizeof(struct task_struct), GFP_KERNEL);

	if (k)
		k->comm[0] = name[0];
	return k;
}

void kthread_free(struct task_struct *k)
{
	kfree(k);
}
