// SPDX-License-Identifier: GPL-2.0-only
/*
 * Quiescence: is any task still inside a version of an update?  Three witnesses:
 * the versions' active-invocation counters, every sleeping task's reliable stack
 * (its saved PC is the first entry), and, for a task running on another CPU, its
 * PC and stack sampled from an IPI on that CPU.  The IPI sample is not reliable: it
 * can prove that a task holds the update, never that it does not, so running tasks
 * are retried until they sleep.  Which addresses belong to the update is decided
 * in Rust.
 */
#define pr_fmt(fmt) "dynwalk: " fmt

#include <linux/delay.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/smp.h>
#include <linux/stacktrace.h>
#include "dw_shim.h"

#define DW_STACK_DEPTH 64

struct dw_walk {
	unsigned long entries[DW_STACK_DEPTH];
	int n;
};

/* Guarded by the control mutex. */
static struct dw_walk dw_walk;

static int dw_save_stack(struct task_struct *t, void *arg)
{
	struct dw_walk *w = arg;

	if (t->on_cpu)
		return -EBUSY;
	w->n = dw_ksyms.stack_trace_save_tsk_reliable(t, w->entries, DW_STACK_DEPTH);
	return w->n < 0 ? w->n : 0;
}

struct dw_pc_probe {
	struct task_struct *task;
	unsigned long entries[DW_STACK_DEPTH];
	int n;
};

/* Guarded by the control mutex. */
static struct dw_pc_probe dw_probe;

/* IPI on the task's CPU: the interrupted PC and the frames below it. */
static void dw_pc_ipi(void *arg)
{
	struct dw_pc_probe *p = arg;

	if (current == p->task)
		p->n = stack_trace_save(p->entries, DW_STACK_DEPTH, 0);
}

/* Index in dw_probe.entries of an address of `update` on running task t's stack, or -1. */
static int dw_probe_running(u32 update, struct task_struct *t)
{
	int cpu = task_cpu(t);

	dw_probe.task = t;
	dw_probe.n = 0;
	if (cpu == raw_smp_processor_id() || smp_call_function_single(cpu, dw_pc_ipi, &dw_probe, 1))
		return -1;
	return dw_rt_held_by(update, (const u64 *)dw_probe.entries, dw_probe.n);
}

struct dw_report {
	char *why;
	size_t cap;
	size_t len;
	int held;
	int unknown;
};

static void dw_note(struct dw_report *r, const char *fmt, ...)
{
	va_list ap;

	if (!r->why || r->len >= r->cap)
		return;
	va_start(ap, fmt);
	r->len += vscnprintf(r->why + r->len, r->cap - r->len, fmt, ap);
	va_end(ap);
}

/* One pass over every task; fills `r` with holders and tasks it could not check. */
static void dw_walk_tasks(u32 update, struct dw_report *r)
{
	struct task_struct *g, *t;
	int ret, idx;

	rcu_read_lock();
	for_each_process_thread(g, t) {
		if (t == current)
			continue;
		ret = dw_ksyms.task_call_func(t, dw_save_stack, &dw_walk);
		if (ret == -EBUSY) {
			idx = dw_probe_running(update, t);
			if (idx >= 0) {
				r->held++;
				dw_note(r, "; pid %d (%s) running at %pS", t->pid, t->comm,
					(void *)dw_probe.entries[idx]);
			} else {
				r->unknown++;
				dw_note(r, "; pid %d (%s) running, not checkable yet", t->pid, t->comm);
			}
			continue;
		}
		if (ret < 0) {
			r->unknown++;
			dw_note(r, "; pid %d (%s) has an unreliable stack (%d)", t->pid, t->comm, ret);
			continue;
		}
		idx = dw_rt_held_by(update, (const u64 *)dw_walk.entries, dw_walk.n);
		if (idx >= 0) {
			r->held++;
			dw_note(r, "; pid %d (%s) at %pS", t->pid, t->comm,
				(void *)dw_walk.entries[idx]);
		}
	}
	rcu_read_unlock();
}

int dw_shim_quiesce(u32 update, u32 timeout_ms, char *why, size_t cap)
{
	unsigned long deadline = jiffies + msecs_to_jiffies(timeout_ms);
	struct dw_report r;
	s64 active;

	for (;;) {
		memset(&r, 0, sizeof(r));
		active = dw_rt_active_count(update);
		if (active == 0) {
			dw_walk_tasks(update, &r);
			if (!r.held && !r.unknown)
				return 0;
		}
		if (time_after(jiffies, deadline))
			break;
		usleep_range(1000, 2000);
	}
	/* Timed out: one more pass, this time naming who holds the update. */
	memset(&r, 0, sizeof(r));
	r.why = why;
	r.cap = cap;
	active = dw_rt_active_count(update);
	dw_note(&r, "still in use after %u ms: %lld active invocation(s)", timeout_ms, active);
	dw_walk_tasks(update, &r);
	return -EBUSY;
}
