// SPDX-License-Identifier: GPL-2.0-only
/*
 * Version registry: update modules register their versions here; descriptions name
 * them by (module, version).  A module's entries go away when the module does.
 */
#define pr_fmt(fmt) "dynwalk: " fmt

#include <linux/kallsyms.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>
#include "dw_shim.h"
#include "dynwalk.h"

struct dw_version_reg {
	struct list_head list;
	struct module *owner;
	char name[KSYM_NAME_LEN];
	void *addr;
	atomic_long_t *active;
	dw_predicate_t pred;
};

static LIST_HEAD(dw_registry);
static DEFINE_MUTEX(dw_registry_lock);

int dw_register_version(struct module *owner, const char *name, void *addr,
			atomic_long_t *active, dw_predicate_t pred)
{
	struct dw_version_reg *r;

	if (!owner || !name || !addr || strlen(name) >= KSYM_NAME_LEN)
		return -EINVAL;
	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	r->owner = owner;
	strscpy(r->name, name, sizeof(r->name));
	r->addr = addr;
	r->active = active;
	r->pred = pred;
	mutex_lock(&dw_registry_lock);
	list_add_tail(&r->list, &dw_registry);
	mutex_unlock(&dw_registry_lock);
	pr_info("registered version %s:%s at %pS\n", module_name(owner), name, addr);
	return 0;
}
EXPORT_SYMBOL_GPL(dw_register_version);

/*
 * The ELF st_size of the function at `addr` in `mod` (0 if unknown).  kallsyms only
 * knows the distance to the next symbol, which for the last function of a section
 * runs to the end of the module's text: too wide a version range.
 */
static unsigned long dw_elf_size(struct module *mod, unsigned long addr)
{
	struct mod_kallsyms *ks;
	unsigned long size = 0;
	unsigned int i;

	preempt_disable();
	ks = rcu_dereference_sched(mod->kallsyms);
	for (i = 0; ks && i < ks->num_symtab; i++) {
		const Elf_Sym *sym = &ks->symtab[i];

		if (sym->st_value == addr && ELF_ST_TYPE(sym->st_info) == STT_FUNC) {
			size = sym->st_size;
			break;
		}
	}
	preempt_enable();
	return size;
}

/* Find (module, name) and copy its addresses into `out`, under the registry lock. */
int dw_registry_lookup(const char *module, const char *name, struct dw_resolved *out)
{
	struct dw_version_reg *r;
	int ret = -ENOENT;

	mutex_lock(&dw_registry_lock);
	list_for_each_entry(r, &dw_registry, list) {
		if (!strcmp(module_name(r->owner), module) && !strcmp(r->name, name)) {
			out->version = (unsigned long)r->addr;
			out->counter = (unsigned long)r->active;
			out->predicate = (unsigned long)r->pred;
			out->version_size = dw_elf_size(r->owner, (unsigned long)r->addr);
			ret = 0;
			break;
		}
	}
	mutex_unlock(&dw_registry_lock);
	return ret;
}

int dw_shim_module_ref(const u8 *module, size_t len, int get, char *why, size_t cap)
{
	struct dw_version_reg *r;
	struct module *owner = NULL;

	mutex_lock(&dw_registry_lock);
	list_for_each_entry(r, &dw_registry, list) {
		const char *n = module_name(r->owner);

		if (strlen(n) == len && !memcmp(n, module, len)) {
			owner = r->owner;
			break;
		}
	}
	if (owner && get && !try_module_get(owner))
		owner = NULL;
	else if (owner && !get)
		module_put(owner);
	mutex_unlock(&dw_registry_lock);
	if (!owner) {
		scnprintf(why, cap, "module %.*s has no registered version (not loaded?)",
			  (int)len, module);
		return -ENOENT;
	}
	return 0;
}

static void dw_registry_drop(struct module *mod)
{
	struct dw_version_reg *r, *tmp;

	mutex_lock(&dw_registry_lock);
	list_for_each_entry_safe(r, tmp, &dw_registry, list) {
		if (!mod || r->owner == mod) {
			list_del(&r->list);
			kfree(r);
		}
	}
	mutex_unlock(&dw_registry_lock);
}

static int dw_module_notify(struct notifier_block *nb, unsigned long action, void *data)
{
	if (action == MODULE_STATE_GOING)
		dw_registry_drop(data);
	return NOTIFY_OK;
}

static struct notifier_block dw_module_nb = { .notifier_call = dw_module_notify };

int dw_registry_init(void)
{
	return register_module_notifier(&dw_module_nb);
}

void dw_registry_exit(void)
{
	unregister_module_notifier(&dw_module_nb);
	dw_registry_drop(NULL);
}
