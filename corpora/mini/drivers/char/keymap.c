/* Key codes and their names, registered as a driver table. */
#include <linux/kernel.h>
#include <linux/module.h>

struct keymap_entry {
	int code;
	const char *name;
};

static struct keymap_entry keymaps[] = {
	{ 1, "escape" },
	{ 28, "enter" },
	{ 57, "space" },
};

int keymap_lookup(int code)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(keymaps); i++)
		if (keymaps[i].code == code)
			return i;
	return -1;
}

static int keymap_index_ok(int i)
{
	return i < ARRAY_SIZE(keymaps);
}

const char *keymap_name(int i)
{
	if (!keymap_index_ok(i))
		return NULL;
	return keymaps[i].name;
}

int keymap_code(int i)
{
	return keymap_index_ok(i) ? keymaps[i].code : -1;
}

module_table_driver(keymaps);
