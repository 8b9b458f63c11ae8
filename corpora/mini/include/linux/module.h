#ifndef _LINUX_MODULE_H
#define _LINUX_MODULE_H
/* Loadable drivers: a table of entries registered at load, unregistered at unload. */

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define module_init(fn) int init_module(void) __attribute__((alias(#fn)))
#define module_exit(fn) void cleanup_module(void) __attribute__((alias(#fn)))

int register_entries(void *table, int count);
void unregister_entries(void *table, int count);

/* Defines <table>_load and <table>_unload; both pass the table's length on. */
#define table_driver(table, count)				\
static int __init table##_load(void)				\
{								\
	return register_entries(table, count);			\
}								\
module_init(table##_load);					\
static void __exit table##_unload(void)				\
{								\
	unregister_entries(table, count);			\
}								\
module_exit(table##_unload)

#define module_table_driver(table) table_driver(table, ARRAY_SIZE(table))

#endif
