#ifndef _LINUX_SCHED_H
#define _LINUX_SCHED_H

#include <linux/list.h>
#include <linux/wait.h>
#include <asm/current.h>

#define MAX_SCHEDULE_TIMEOUT	((long)(~0UL>>1))
#define CLONE_FS	0x00000200
#define CLONE_FILES	0x00000400

struct mm_struct {
	int mm_users;
	unsigned long start_code, end_code;
	struct list_head mmlist;
};

struct task_struct {
	volatile long state;
	unsigned long flags;
	int sigpending;
	long counter;
	long nice;
	struct mm_struct *mm;
	struct mm_struct *active_mm;
	struct list_head run_list;
	int pid;
#ifdef CONFIG_SMP
	int processor;
	int has_cpu;
#endif
	struct {
		unsigned long utime, stime;
	} times;
	char comm[16];
	wait_queue_head_t wait_chldexit;
};

typedef struct task_struct task_t;

#define set_current_state(state_value) do { current->state = (state_value); } while (0)

extern asmlinkage void schedule(void);
extern signed long FASTCALL(schedule_timeout(signed long timeout));
extern int FASTCALL(wake_up_process(struct task_struct *tsk));
extern int kernel_thread(int (*fn)(void *), void *arg, unsigned long flags);
extern struct task_struct *kthread_create(int (*threadfn)(void *data), void *data, const char *name);

#define kthread_run(threadfn, data, name)				\
({									\
	struct task_struct *__k = kthread_create(threadfn, data, name);	\
	if (__k)							\
		wake_up_process(__k);					\
	__k;								\
})

static inline int signal_pending(struct task_struct *p)
{
	return p->sigpending != 0;
}

#endif
