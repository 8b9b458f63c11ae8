#ifndef _LINUX_SLAB_H
#define _LINUX_SLAB_H

#include <linux/kernel.h>

#define GFP_KERNEL 0x1f0

extern void *kmalloc(size_t size, int flags);
extern void kfree(const void *objp);

static inline void *kzalloc(size_t size, int flags)
{
	return kmalloc(size, flags | 0x8000);
}

#endif
