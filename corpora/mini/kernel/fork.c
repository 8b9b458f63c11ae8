/* K&R definitions, as 2.2/2.4 still had some. */
#include <linux/sched.h>
#include <linux/slab.h>

static int nr_threads;

static struct mm_struct * dup_mm(old)
	struct mm_struct *old;
{
	struct mm_struct *mm = kmalloc(sizeof(*mm), GFP_KERNEL);

	if (mm) {
		mm->mm_users = 1;
		mm->start_code = old->start_code;
		mm->end_code = old->end_code;
	}
	return mm;
}

int do_fork(clone_flags, stack_start, orig)
	unsigned long clone_flags;
	unsigned long stack_start;
	struct task_struct *orig;
{
	task_t *p = kmalloc(sizeof(task_t), GFP_KERNEL);

	if (!p)
		return -12;
	*p = *orig;
	p->mm = dup_mm(orig->mm);
	p->active_mm = p->mm;
	p->pid = ++nr_threads;
	init_waitqueue_head(&p->wait_chldexit);
	wake_up_process(p);
	return p->pid;
}

void exit_mm(struct task_struct *tsk)
{
	struct mm_struct *mm = tsk->mm;

	if (mm) {
		tsk->mm = NULL;
		if (--mm->mm_users == 0)
			kfree(mm);
	}
}
