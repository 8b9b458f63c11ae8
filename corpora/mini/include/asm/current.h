#ifndef _ASM_CURRENT_H
#define _ASM_CURRENT_H

struct task_struct;
extern struct task_struct *cpu_tasks[];

static __always_inline struct task_struct *get_current(void)
{
	return cpu_tasks[0];
}

#define current get_current()

#endif
