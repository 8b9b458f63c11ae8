/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Public API of the dynwalk runtime for update modules (docs/runtime-control.md).
 *
 * An update module defines each version with DW_DEFINE_VERSION (which counts the
 * invocations running inside it) and registers it with DW_REGISTER from its init.
 * The runtime drops a module's registrations when the module goes away, and holds
 * a reference on it while one of its versions is applied.
 */
#ifndef DYNWALK_H
#define DYNWALK_H

#include <linux/atomic.h>
#include <linux/gfp.h>
#include <linux/module.h>

typedef bool (*dw_predicate_t)(void);

int dw_register_version(struct module *owner, const char *name, void *addr,
			atomic_long_t *active, dw_predicate_t pred);

/*
 * Define version `name` (non-void return type): `name` is the entry the runtime
 * redirects to; it counts the invocations active inside `name##_body`, whose body
 * follows the macro.  The body is inlined into `name` on purpose: the runtime knows
 * a version by the text of `name`, and a call to the original function made from
 * that text reaches the original (any other caller is redirected, so a helper that
 * calls the original from outside the version would recurse into the version).
 * For the same reason update modules are built with
 * -fno-reorder-blocks-and-partition (the runtime refuses a version with a .cold part).
 */
#define DW_DEFINE_VERSION(ret, name, params, args)			\
	static atomic_long_t dw__active_##name;				\
	static __always_inline ret name##_body params;			\
	noinline ret name params;					\
	noinline ret name params					\
	{								\
		ret r__;						\
		atomic_long_inc(&dw__active_##name);			\
		r__ = name##_body args;					\
		atomic_long_dec(&dw__active_##name);			\
		return r__;						\
	}								\
	static __always_inline ret name##_body params

#define DW_REGISTER(name, pred)						\
	dw_register_version(THIS_MODULE, #name, (void *)name,		\
			    &dw__active_##name, pred)

/* A version without invocation counting (e.g. a dispatcher reached by jmp). */
#define DW_REGISTER_UNCOUNTED(name)					\
	dw_register_version(THIS_MODULE, #name, (void *)name, NULL, NULL)

/* Shadow data: extra fields attached to any object, keyed by (object, id). */
void *dw_shadow_get(void *obj, unsigned long id);
void *dw_shadow_alloc(void *obj, unsigned long id, size_t size, gfp_t gfp);
void *dw_shadow_get_or_alloc(void *obj, unsigned long id, size_t size, gfp_t gfp);
void dw_shadow_free(void *obj, unsigned long id);
void dw_shadow_free_all(unsigned long id);

/*
 * The address of a vmlinux symbol the module loader cannot link (not exported, or
 * file-local): sympos 0 wants a unique name, n the n-th of that name in kallsyms order.
 * 0 when not found (or not unique). Generated updates resolve their names with it.
 */
unsigned long dw_ksym(const char *name, unsigned long sympos);

/* The runtime's dispatcher, for a self-update that wraps it. */
u64 dw_rt_select_core(u32 slot, u64 parent, u32 pid, u32 cpu);

#endif
