// SPDX-License-Identifier: GPL-2.0-only
/*
 * dwt_target: stands for "the kernel" in the guest scenarios.  Its functions are
 * ordinary ftrace-managed module functions; /proc/dwt drives callers of them:
 *
 *   cat /proc/dwt                  "value=<dwt_value(1)>" called by the reader
 *   echo loop > /proc/dwt          kthread dwt_loop: calls dwt_value(1) forever
 *   echo sleep MS > /proc/dwt      kthread dwt_sleeper: one call to dwt_sleepy(MS)
 *   echo spin MS > /proc/dwt       kthread dwt_spinner: one call to dwt_spin(MS), busy
 *   echo group > /proc/dwt         kthread dwt_group: calls dwt_group_a then _b
 *   echo stress N > /proc/dwt      N kthreads dwt_stress calling value/a/b
 *   echo obj alloc N|use|free      objects of struct dwt_obj
 *   echo bench base|plain|dynwalk|report   overhead measurement
 *   echo bench hold|release        keep a plain IPMODIFY ftrace user on dwt_bench
 *   echo stat > /proc/dwt          print counters of the above
 *   echo stop > /proc/dwt          stop every kthread
 */
#define pr_fmt(fmt) "dwt: " fmt

#include <linux/delay.h>
#include <linux/ftrace.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/trace_recursion.h>
#include <linux/uaccess.h>

/* noipa: callers must not learn return values through IPA (the tests observe them). */
#define DWT_FN __attribute__((noipa)) noinline

struct dwt_obj {
	struct list_head list;
	int id;
};

DWT_FN int dwt_value(int x) { return x + 1; }
EXPORT_SYMBOL_GPL(dwt_value);
DWT_FN int dwt_group_a(int x) { return 1; }
EXPORT_SYMBOL_GPL(dwt_group_a);
DWT_FN int dwt_group_b(int x) { return 1; }
EXPORT_SYMBOL_GPL(dwt_group_b);
DWT_FN int dwt_sleepy(int ms) { msleep(ms); return 1; }
EXPORT_SYMBOL_GPL(dwt_sleepy);
/* Busy without sleeping (mdelay trusts a TSC that TCG guests mark unstable). */
static void dwt_busy(int ms)
{
	u64 end = ktime_get_ns() + (u64)ms * NSEC_PER_MSEC;

	while (ktime_get_ns() < end)
		cpu_relax();
}

DWT_FN int dwt_spin(int ms) { dwt_busy(ms); return 1; }
EXPORT_SYMBOL_GPL(dwt_spin);
DWT_FN int dwt_obj_use(struct dwt_obj *o) { return o->id; }
EXPORT_SYMBOL_GPL(dwt_obj_use);
DWT_FN int dwt_obj_release(struct dwt_obj *o) { list_del(&o->list); kfree(o); return 0; }
EXPORT_SYMBOL_GPL(dwt_obj_release);
DWT_FN int dwt_bench(int x) { return x + 1; }
EXPORT_SYMBOL_GPL(dwt_bench);
DWT_FN int dwt_bench_alt(int x) { return x + 2; }

#define MAX_THREADS 8
static struct task_struct *threads[MAX_THREADS];
static atomic_long_t loop_iters, loop_last, group_pairs, group_mixed, group_new;
static atomic_long_t stress_calls, stress_bad;
static LIST_HEAD(objs);

static int loop_fn(void *arg)
{
	while (!kthread_should_stop()) {
		atomic_long_set(&loop_last, dwt_value(1));
		atomic_long_inc(&loop_iters);
		usleep_range(200, 400);
	}
	return 0;
}

static int sleeper_fn(void *arg)
{
	int r = dwt_sleepy((long)arg);

	pr_info("sleeper returned %d\n", r);
	while (!kthread_should_stop())
		msleep(20);
	return 0;
}

static int spinner_fn(void *arg)
{
	int r = dwt_spin((long)arg);

	pr_info("spinner returned %d\n", r);
	while (!kthread_should_stop())
		msleep(20);
	return 0;
}

static int group_fn(void *arg)
{
	while (!kthread_should_stop()) {
		int a = dwt_group_a(0), b = dwt_group_b(0);

		atomic_long_inc(&group_pairs);
		if (a != b)
			atomic_long_inc(&group_mixed);
		if (a == 2 && b == 2)
			atomic_long_inc(&group_new);
		usleep_range(50, 100);
	}
	return 0;
}

/* Shared by every stress thread: shadow fields are attached to them concurrently. */
static struct dwt_obj stress_objs[4] = { { .id = 101 }, { .id = 102 }, { .id = 103 }, { .id = 104 } };

static int stress_fn(void *arg)
{
	while (!kthread_should_stop()) {
		int i;

		for (i = 0; i < 20; i++) {
			int v = dwt_value(1);

			/* 2: original, 101: dwt_value_v2, 202: v3 (calls the original) */
			if (v != 2 && v != 101 && v != 202)
				atomic_long_inc(&stress_bad);
			dwt_group_a(0);
			dwt_group_b(0);
			dwt_obj_use(&stress_objs[i % ARRAY_SIZE(stress_objs)]);
			atomic_long_add(4, &stress_calls);
		}
		usleep_range(100, 200);
	}
	return 0;
}

static int dwt_start(int (*fn)(void *), void *arg, const char *name)
{
	int i;

	for (i = 0; i < MAX_THREADS; i++) {
		if (!threads[i]) {
			struct task_struct *t = kthread_run(fn, arg, "%s", name);

			if (IS_ERR(t))
				return PTR_ERR(t);
			threads[i] = t;
			return 0;
		}
	}
	return -ENOSPC;
}

/* The spinner never yields: bind it to the last CPU so the shell keeps the others. */
static int dwt_start_spinner(int ms)
{
	struct task_struct *t;
	int i;

	for (i = 0; i < MAX_THREADS && threads[i]; i++)
		;
	if (i == MAX_THREADS)
		return -ENOSPC;
	t = kthread_create(spinner_fn, (void *)(long)ms, "dwt_spinner");
	if (IS_ERR(t))
		return PTR_ERR(t);
	kthread_bind(t, num_online_cpus() - 1);
	threads[i] = t;
	wake_up_process(t);
	return 0;
}

static void dwt_stop_all(void)
{
	int i;

	for (i = 0; i < MAX_THREADS; i++) {
		if (threads[i])
			kthread_stop(threads[i]);
		threads[i] = NULL;
	}
}

/* ---- overhead: the same loop, unpatched, plain ftrace redirect, dynwalk ---- */

#define BENCH_CALLS 200000
static u64 bench_ns[4];	/* base, plain ftrace, dynwalk counted, dynwalk uncounted */

static void notrace plain_handler(unsigned long ip, unsigned long parent_ip,
				  struct ftrace_ops *op, struct ftrace_regs *fregs)
{
	ftrace_instruction_pointer_set(fregs, (unsigned long)dwt_bench_alt);
}

static struct ftrace_ops plain_ops = {
	.func = plain_handler,
	/* The minimal redirect: a handler that cannot recurse, called directly. */
	.flags = FTRACE_OPS_FL_SAVE_REGS | FTRACE_OPS_FL_IPMODIFY,
};

static u64 bench_loop(void)
{
	u64 best = U64_MAX;
	int round, i;

	/* Best of 11 rounds, preemption off, so that other tasks do not count. */
	for (round = 0; round < 11; round++) {
		u64 t0, t1;
		int sink = 0;

		preempt_disable();
		t0 = ktime_get_ns();
		for (i = 0; i < BENCH_CALLS; i++)
			sink += dwt_bench(i);
		t1 = ktime_get_ns();
		preempt_enable();
		if (sink == 42)
			pr_info("unlikely\n");
		best = min(best, t1 - t0);
		cond_resched();
	}
	return best;
}

static void bench(const char *what)
{
	if (!strcmp(what, "base")) {
		bench_ns[0] = bench_loop();
		pr_info("bench base: %llu ns for %d calls\n", bench_ns[0], BENCH_CALLS);
	} else if (!strcmp(what, "plain")) {
		int ret = ftrace_set_filter_ip(&plain_ops, (unsigned long)dwt_bench, 0, 0) ?:
			  register_ftrace_function(&plain_ops);

		if (ret) {
			pr_err("bench plain: cannot register: %d\n", ret);
			return;
		}
		bench_ns[1] = bench_loop();
		/* The scenario asserts this value: without the redirect the ratio means nothing. */
		pr_info("bench plain: %llu ns for %d calls (dwt_bench(1)=%d)\n", bench_ns[1], BENCH_CALLS,
			dwt_bench(1));
		unregister_ftrace_function(&plain_ops);
		ftrace_set_filter_ip(&plain_ops, (unsigned long)dwt_bench, 1, 0);
	} else if (!strcmp(what, "hold")) {
		/* Own dwt_bench's IPMODIFY slot, so that dynwalk cannot arm it. */
		int ret = ftrace_set_filter_ip(&plain_ops, (unsigned long)dwt_bench, 0, 0) ?:
			  register_ftrace_function(&plain_ops);

		pr_info("bench hold: %d\n", ret);
	} else if (!strcmp(what, "release")) {
		unregister_ftrace_function(&plain_ops);
		ftrace_set_filter_ip(&plain_ops, (unsigned long)dwt_bench, 1, 0);
		pr_info("bench release\n");
	} else if (!strcmp(what, "dynwalk")) {
		bench_ns[2] = bench_loop();
		pr_info("bench dynwalk: %llu ns for %d calls (dwt_bench(1)=%d)\n", bench_ns[2],
			BENCH_CALLS, dwt_bench(1));
	} else if (!strcmp(what, "dynraw")) {
		bench_ns[3] = bench_loop();
		pr_info("bench dynraw: %llu ns for %d calls (dwt_bench(1)=%d)\n", bench_ns[3],
			BENCH_CALLS, dwt_bench(1));
	} else if (!strcmp(what, "report") && bench_ns[0] && bench_ns[1] && bench_ns[3]) {
		pr_info("OVERHEAD per call: unpatched %llu.%03llu ns, plain ftrace redirect %llu.%03llu ns, dynwalk dispatch %llu.%03llu ns\n",
			bench_ns[0] / BENCH_CALLS, (bench_ns[0] % BENCH_CALLS) * 1000 / BENCH_CALLS,
			bench_ns[1] / BENCH_CALLS, (bench_ns[1] % BENCH_CALLS) * 1000 / BENCH_CALLS,
			bench_ns[2] / BENCH_CALLS, (bench_ns[2] % BENCH_CALLS) * 1000 / BENCH_CALLS);
		pr_info("OVERHEAD ratio dynwalk/unpatched = %llu.%02llu, dynwalk/plain-ftrace = %llu.%02llu\n",
			bench_ns[2] / bench_ns[0], (bench_ns[2] % bench_ns[0]) * 100 / bench_ns[0],
			bench_ns[2] / bench_ns[1], (bench_ns[2] % bench_ns[1]) * 100 / bench_ns[1]);
		pr_info("OVERHEAD dispatch only (uncounted version) %llu.%03llu ns: ratio /unpatched = %llu.%02llu, /plain-ftrace = %llu.%02llu\n",
			bench_ns[3] / BENCH_CALLS, (bench_ns[3] % BENCH_CALLS) * 1000 / BENCH_CALLS,
			bench_ns[3] / bench_ns[0], (bench_ns[3] % bench_ns[0]) * 100 / bench_ns[0],
			bench_ns[3] / bench_ns[1], (bench_ns[3] % bench_ns[1]) * 100 / bench_ns[1]);
	}
}

/* ---- /proc/dwt ---- */

static int dwt_show(struct seq_file *m, void *v)
{
	seq_printf(m, "value=%d\n", dwt_value(1));
	return 0;
}

static void obj_cmd(const char *what, int n)
{
	struct dwt_obj *o, *tmp;
	long sum = 0;
	int i;

	if (!strcmp(what, "alloc")) {
		for (i = 0; i < n; i++) {
			o = kzalloc(sizeof(*o), GFP_KERNEL);
			if (!o)
				break;
			o->id = i + 1;
			list_add_tail(&o->list, &objs);
		}
	} else if (!strcmp(what, "use")) {
		list_for_each_entry(o, &objs, list)
			sum += dwt_obj_use(o);
		pr_info("obj use: sum=%ld\n", sum);
	} else if (!strcmp(what, "free")) {
		list_for_each_entry_safe(o, tmp, &objs, list)
			dwt_obj_release(o);
		pr_info("obj free: done\n");
	}
}

static ssize_t dwt_write(struct file *file, const char __user *ubuf, size_t len, loff_t *ppos)
{
	char buf[64], w1[16] = "", w2[16] = "";
	int n = 0, ret = 0;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = 0;
	if (sscanf(buf, "%15s %15s %d", w1, w2, &n) < 1)
		return -EINVAL;
	if (!strcmp(w1, "loop")) {
		ret = dwt_start(loop_fn, NULL, "dwt_loop");
	} else if (!strcmp(w1, "sleep")) {
		ret = kstrtoint(w2, 10, &n) ?: dwt_start(sleeper_fn, (void *)(long)n, "dwt_sleeper");
	} else if (!strcmp(w1, "spin")) {
		ret = kstrtoint(w2, 10, &n) ?: dwt_start_spinner(n);
	} else if (!strcmp(w1, "group")) {
		ret = dwt_start(group_fn, NULL, "dwt_group");
	} else if (!strcmp(w1, "stress")) {
		int i;

		ret = kstrtoint(w2, 10, &n);
		for (i = 0; !ret && i < n; i++)
			ret = dwt_start(stress_fn, NULL, "dwt_stress");
	} else if (!strcmp(w1, "obj")) {
		obj_cmd(w2, n);
	} else if (!strcmp(w1, "bench")) {
		bench(w2);
	} else if (!strcmp(w1, "stop")) {
		dwt_stop_all();
	} else if (!strcmp(w1, "stat")) {
		pr_info("stat loop_iters=%ld loop_last=%ld group_pairs=%ld group_mixed=%ld group_new=%ld stress_calls=%ld stress_bad=%ld\n",
			atomic_long_read(&loop_iters), atomic_long_read(&loop_last),
			atomic_long_read(&group_pairs), atomic_long_read(&group_mixed),
			atomic_long_read(&group_new), atomic_long_read(&stress_calls),
			atomic_long_read(&stress_bad));
	} else {
		ret = -EINVAL;
	}
	return ret ? ret : len;
}

static int dwt_open(struct inode *inode, struct file *file)
{
	return single_open(file, dwt_show, NULL);
}

static const struct proc_ops dwt_proc_ops = {
	.proc_open = dwt_open,
	.proc_read = seq_read,
	.proc_write = dwt_write,
	.proc_lseek = seq_lseek,
	.proc_release = single_release,
};

static int __init dwt_init(void)
{
	if (!proc_create("dwt", 0600, NULL, &dwt_proc_ops))
		return -ENOMEM;
	return 0;
}

static void __exit dwt_exit(void)
{
	struct dwt_obj *o, *tmp;

	dwt_stop_all();
	remove_proc_entry("dwt", NULL);
	list_for_each_entry_safe(o, tmp, &objs, list)
		kfree(o);
}

module_init(dwt_init);
module_exit(dwt_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("dynwalk guest test target");
