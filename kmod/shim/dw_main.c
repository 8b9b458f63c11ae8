// SPDX-License-Identifier: GPL-2.0-only
/*
 * dynwalk runtime: module init, kernel symbol lookup, the control device.
 * Every decision is made by the Rust object (dw_rt_control); this file only moves
 * bytes between user space and it, under one mutex.
 */
#define pr_fmt(fmt) "dynwalk: " fmt

#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/kprobes.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include "dw_shim.h"

struct dw_ksyms dw_ksyms;
static DEFINE_MUTEX(dw_control_lock);

struct dw_file {
	size_t reply_len;
	u8 reply[DW_REPLY_LEN];
};

/* kallsyms_lookup_name is not exported: a kprobe on it reveals its address. */
static int dw_find_lookup_name(void)
{
	struct kprobe kp = { .symbol_name = "kallsyms_lookup_name" };
	int ret = register_kprobe(&kp);

	if (ret)
		return ret;
	dw_ksyms.lookup_name = (void *)kp.addr;
	unregister_kprobe(&kp);
	return dw_ksyms.lookup_name ? 0 : -ENOENT;
}

static int dw_lookup(const char *name, void **slot)
{
	*slot = (void *)dw_ksyms.lookup_name(name);
	if (!*slot) {
		pr_err("refusing to load: kernel symbol %s not found\n", name);
		return -ENOENT;
	}
	return 0;
}

/* A symbol the runtime can do without (it refuses what needs it). */
static int dw_find_optional(const char *name, void **slot)
{
	*slot = (void *)dw_ksyms.lookup_name(name);
	if (!*slot)
		pr_info("kernel symbol %s not found: the features that need it are refused\n", name);
	return 0;
}

static int dw_find_ksyms(void)
{
	int ret = dw_find_lookup_name();

	if (ret) {
		pr_err("refusing to load: cannot find kallsyms_lookup_name (%d)\n", ret);
		return ret;
	}
	return dw_lookup("kallsyms_lookup_size_offset", (void **)&dw_ksyms.lookup_size_offset) ?:
	       dw_lookup("ftrace_location", (void **)&dw_ksyms.ftrace_location) ?:
	       dw_lookup("text_poke_bp", (void **)&dw_ksyms.text_poke_bp) ?:
	       dw_lookup("text_mutex", (void **)&dw_ksyms.text_mutex) ?:
	       dw_lookup("stack_trace_save_tsk_reliable",
			 (void **)&dw_ksyms.stack_trace_save_tsk_reliable) ?:
	       dw_lookup("task_call_func", (void **)&dw_ksyms.task_call_func) ?:
	       dw_lookup("kallsyms_on_each_symbol", (void **)&dw_ksyms.on_each_symbol) ?:
	       dw_find_optional("insn_decode", (void **)&dw_ksyms.insn_decode);
}

struct dw_ksym_query {
	const char *name;
	unsigned long sympos;
	unsigned long count;
	unsigned long addr;
};

static int dw_ksym_match(void *data, const char *name, struct module *mod, unsigned long addr)
{
	struct dw_ksym_query *q = data;

	if (strcmp(name, q->name))
		return 0;
	q->count++;
	if (q->count == (q->sympos ? q->sympos : 1))
		q->addr = addr;
	return 0;
}

/*
 * The address of vmlinux symbol `name` for generated update modules: with sympos 0 the
 * name must be unique, else the sympos-th of that name in kallsyms order (livepatch's
 * convention). 0 when there is no such symbol, or when sympos 0 finds several.
 */
unsigned long dw_ksym(const char *name, unsigned long sympos)
{
	struct dw_ksym_query q = { .name = name, .sympos = sympos };

	dw_ksyms.on_each_symbol(dw_ksym_match, &q);
	if (!sympos && q.count != 1)
		return 0;
	if (sympos > q.count)
		return 0;
	return q.addr;
}
EXPORT_SYMBOL_GPL(dw_ksym);

static int dw_open(struct inode *inode, struct file *file)
{
	struct dw_file *f;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	f = kvzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	file->private_data = f;
	return 0;
}

static int dw_release(struct inode *inode, struct file *file)
{
	kvfree(file->private_data);
	return 0;
}

/* Log the reply line by line: the console log is a tested contract. */
static void dw_log_reply(const u8 *s, size_t len)
{
	size_t start = 0, i;

	for (i = 0; i <= len; i++) {
		if (i == len || s[i] == '\n') {
			if (i > start && len < 1024)
				pr_info("%.*s\n", (int)(i - start), s + start);
			start = i + 1;
		}
	}
}

static ssize_t dw_write(struct file *file, const char __user *ubuf, size_t len, loff_t *ppos)
{
	struct dw_file *f = file->private_data;
	size_t written = 0;
	u8 *buf;
	int ret;

	if (len == 0 || len > DW_MAX_INPUT) {
		f->reply_len = scnprintf(f->reply, DW_REPLY_LEN,
					 "refused: input of %zu bytes (1..=%d)\n", len, DW_MAX_INPUT);
		dw_log_reply(f->reply, f->reply_len);
		return -E2BIG;
	}
	buf = memdup_user(ubuf, len);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	mutex_lock(&dw_control_lock);
	ret = dw_rt_control(buf, len, f->reply, DW_REPLY_LEN - 64, &written);
	if (len >= 6 && !memcmp(buf, "status", 6))
		written += scnprintf(f->reply + written, DW_REPLY_LEN - written,
				     "shadow objects=%ld\n", dw_shadow_count());
	mutex_unlock(&dw_control_lock);
	kfree(buf);
	f->reply_len = written;
	dw_log_reply(f->reply, written);
	return ret < 0 ? ret : len;
}

static ssize_t dw_read(struct file *file, char __user *ubuf, size_t len, loff_t *ppos)
{
	struct dw_file *f = file->private_data;

	return simple_read_from_buffer(ubuf, len, ppos, f->reply, f->reply_len);
}

static const struct file_operations dw_fops = {
	.owner = THIS_MODULE,
	.open = dw_open,
	.release = dw_release,
	.write = dw_write,
	.read = dw_read,
	.llseek = no_llseek,
};

static struct miscdevice dw_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "dynwalk",
	.fops = &dw_fops,
	.mode = 0600,
};

static int __init dw_init(void)
{
	int ret = dw_find_ksyms();

	if (ret)
		return ret;
	ret = dw_registry_init();
	if (ret)
		return ret;
	ret = misc_register(&dw_misc);
	if (ret) {
		dw_registry_exit();
		return ret;
	}
	pr_info("runtime loaded (control: /dev/dynwalk)\n");
	return 0;
}

static void __exit dw_exit(void)
{
	misc_deregister(&dw_misc);
	dw_redirect_exit();
	dw_registry_exit();
	dw_shadow_exit();
	pr_info("runtime unloaded\n");
}

module_init(dw_init);
module_exit(dw_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("dynwalk live-update runtime");
