// SPDX-License-Identifier: GPL-2.0-only
/*
 * dwt_update: an update module.  It holds new versions of functions of the running
 * kernel (cmdline_proc_show) and of dwt_target, registered with the runtime; the
 * descriptions written to /dev/dynwalk say which to switch to, and how.
 */
#define pr_fmt(fmt) "dwt_update: " fmt

#include <linux/delay.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/string.h>
#include "dynwalk.h"

struct dwt_obj {
	struct list_head list;
	int id;
};

int dwt_value(int x);
int dwt_obj_release(struct dwt_obj *o);

#define DWT_SHADOW_USES 1

static long selfupdate_hits;
module_param(selfupdate_hits, long, 0444);

DW_DEFINE_VERSION(int, cmdline_proc_show_v2, (struct seq_file *m, void *v), (m, v))
{
	seq_puts(m, "dynwalk-patched-cmdline\n");
	return 0;
}

DW_DEFINE_VERSION(int, dwt_value_v2, (int x), (x))
{
	return x + 100;
}

/* Calls the original: the runtime sends calls made from inside a version there. */
DW_DEFINE_VERSION(int, dwt_value_v3, (int x), (x))
{
	return dwt_value(x) + 200;
}

DW_DEFINE_VERSION(int, dwt_value_v4, (int x), (x))
{
	return x + 400;
}

static bool comm_is_pred(void)
{
	return !strncmp(current->comm, "pred", 4);
}

DW_DEFINE_VERSION(int, dwt_group_a_v2, (int x), (x))
{
	return 2;
}

DW_DEFINE_VERSION(int, dwt_group_b_v2, (int x), (x))
{
	return 2;
}

DW_DEFINE_VERSION(int, dwt_sleepy_v2, (int ms), (ms))
{
	pr_info("dwt_sleepy_v2 sleeping %d ms\n", ms);
	msleep(ms);
	return 2;
}

/* Busy for `ms` without sleeping: its holder is a running task. */
DW_DEFINE_VERSION(int, dwt_spin_v2, (int ms), (ms))
{
	u64 end = ktime_get_ns() + (u64)ms * NSEC_PER_MSEC;

	while (ktime_get_ns() < end)
		cpu_relax();
	return 2;
}

/* Shadow field: how many times each object was used since the update. */
DW_DEFINE_VERSION(int, dwt_obj_use_v2, (struct dwt_obj *o), (o))
{
	int *uses = dw_shadow_get_or_alloc(o, DWT_SHADOW_USES, sizeof(int), GFP_KERNEL);

	if (!uses)
		return -1;
	(*uses)++;
	return o->id * 1000 + *uses;
}

DW_DEFINE_VERSION(int, dwt_obj_release_v2, (struct dwt_obj *o), (o))
{
	int *uses = dw_shadow_get(o, DWT_SHADOW_USES);

	pr_info("release obj %d: shadow uses=%d\n", o->id, uses ? *uses : -1);
	dw_shadow_free(o, DWT_SHADOW_USES);
	return dwt_obj_release(o);
}

DW_DEFINE_VERSION(int, dwt_bench_v2, (int x), (x))
{
	return x + 2;
}

/* The same, registered without the invocation counter (isolates dispatch cost). */
noinline int dwt_bench_raw(int x)
{
	return x + 2;
}

/* Self-update: a new dispatcher, reached by a jmp written over dw_select's NOP. */
noinline u64 dwu_select_v2(u32 slot, u64 parent, u32 pid, u32 cpu)
{
	WRITE_ONCE(selfupdate_hits, READ_ONCE(selfupdate_hits) + 1);
	return dw_rt_select_core(slot, parent, pid, cpu);
}

static int __init dwu_init(void)
{
	return DW_REGISTER(cmdline_proc_show_v2, NULL) ?:
	       DW_REGISTER(dwt_value_v2, NULL) ?:
	       DW_REGISTER(dwt_value_v3, NULL) ?:
	       DW_REGISTER(dwt_value_v4, comm_is_pred) ?:
	       DW_REGISTER(dwt_group_a_v2, NULL) ?:
	       DW_REGISTER(dwt_group_b_v2, NULL) ?:
	       DW_REGISTER(dwt_sleepy_v2, NULL) ?:
	       DW_REGISTER(dwt_spin_v2, NULL) ?:
	       DW_REGISTER(dwt_obj_use_v2, NULL) ?:
	       DW_REGISTER(dwt_obj_release_v2, NULL) ?:
	       DW_REGISTER(dwt_bench_v2, NULL) ?:
	       DW_REGISTER_UNCOUNTED(dwt_bench_raw) ?:
	       DW_REGISTER_UNCOUNTED(dwu_select_v2);
}

static void __exit dwu_exit(void)
{
}

module_init(dwu_init);
module_exit(dwu_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("dynwalk guest test update module");
