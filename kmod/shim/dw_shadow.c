// SPDX-License-Identifier: GPL-2.0-only
/*
 * Shadow data: fields attached to existing objects, keyed by (object address, id).
 * Lookups are RCU-protected; attach and detach take a spinlock, so any context that
 * may allocate with the given gfp flags can use them concurrently.
 */
#define pr_fmt(fmt) "dynwalk: " fmt

#include <linux/hash.h>
#include <linux/hashtable.h>
#include <linux/rculist.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include "dw_shim.h"
#include "dynwalk.h"

struct dw_shadow {
	struct hlist_node node;
	struct rcu_head rcu;
	void *obj;
	unsigned long id;
	char data[];
};

static DEFINE_HASHTABLE(dw_shadow_hash, 10);
static DEFINE_SPINLOCK(dw_shadow_lock);
static atomic_long_t dw_shadow_objects = ATOMIC_LONG_INIT(0);

static struct dw_shadow *dw_shadow_find(void *obj, unsigned long id)
{
	struct dw_shadow *s;

	hash_for_each_possible_rcu(dw_shadow_hash, s, node, (unsigned long)obj) {
		if (s->obj == obj && s->id == id)
			return s;
	}
	return NULL;
}

void *dw_shadow_get(void *obj, unsigned long id)
{
	struct dw_shadow *s;

	rcu_read_lock();
	s = dw_shadow_find(obj, id);
	rcu_read_unlock();
	return s ? s->data : NULL;
}
EXPORT_SYMBOL_GPL(dw_shadow_get);

static void *dw_shadow_attach(void *obj, unsigned long id, size_t size, gfp_t gfp,
			      bool return_existing)
{
	struct dw_shadow *s, *fresh;
	unsigned long flags;
	void *ret;

	rcu_read_lock();
	s = dw_shadow_find(obj, id);	/* fast path, lockless */
	rcu_read_unlock();
	if (s)
		return return_existing ? s->data : NULL;
	fresh = kzalloc(sizeof(*fresh) + size, gfp);
	if (!fresh)
		return NULL;
	fresh->obj = obj;
	fresh->id = id;
	spin_lock_irqsave(&dw_shadow_lock, flags);
	s = dw_shadow_find(obj, id);	/* somebody may have won the race */
	if (s) {
		ret = return_existing ? s->data : NULL;
	} else {
		hash_add_rcu(dw_shadow_hash, &fresh->node, (unsigned long)obj);
		atomic_long_inc(&dw_shadow_objects);
		ret = fresh->data;
		fresh = NULL;
	}
	spin_unlock_irqrestore(&dw_shadow_lock, flags);
	kfree(fresh);
	return ret;
}

/* Attach a zeroed field; NULL if it already exists or on allocation failure. */
void *dw_shadow_alloc(void *obj, unsigned long id, size_t size, gfp_t gfp)
{
	return dw_shadow_attach(obj, id, size, gfp, false);
}
EXPORT_SYMBOL_GPL(dw_shadow_alloc);

void *dw_shadow_get_or_alloc(void *obj, unsigned long id, size_t size, gfp_t gfp)
{
	return dw_shadow_attach(obj, id, size, gfp, true);
}
EXPORT_SYMBOL_GPL(dw_shadow_get_or_alloc);

void dw_shadow_free(void *obj, unsigned long id)
{
	struct dw_shadow *s;
	unsigned long flags;

	spin_lock_irqsave(&dw_shadow_lock, flags);
	s = dw_shadow_find(obj, id);
	if (s) {
		hash_del_rcu(&s->node);
		atomic_long_dec(&dw_shadow_objects);
		kfree_rcu(s, rcu);
	}
	spin_unlock_irqrestore(&dw_shadow_lock, flags);
}
EXPORT_SYMBOL_GPL(dw_shadow_free);

void dw_shadow_free_all(unsigned long id)
{
	struct dw_shadow *s;
	struct hlist_node *tmp;
	unsigned long flags;
	int bkt;

	spin_lock_irqsave(&dw_shadow_lock, flags);
	hash_for_each_safe(dw_shadow_hash, bkt, tmp, s, node) {
		if (s->id == id) {
			hash_del_rcu(&s->node);
			atomic_long_dec(&dw_shadow_objects);
			kfree_rcu(s, rcu);
		}
	}
	spin_unlock_irqrestore(&dw_shadow_lock, flags);
}
EXPORT_SYMBOL_GPL(dw_shadow_free_all);

long dw_shadow_count(void)
{
	return atomic_long_read(&dw_shadow_objects);
}

void dw_shadow_exit(void)
{
	struct dw_shadow *s;
	struct hlist_node *tmp;
	int bkt;

	hash_for_each_safe(dw_shadow_hash, bkt, tmp, s, node) {
		hash_del(&s->node);
		kfree(s);
	}
}
