#ifndef _LINUX_KERNEL_H
#define _LINUX_KERNEL_H

#define NULL ((void *)0)
#define HZ 100
#define offsetof(TYPE, MEMBER) ((unsigned long) &((TYPE *)0)->MEMBER)
#define container_of(ptr, type, member) ({			\
	const typeof( ((type *)0)->member ) *__mptr = (ptr);	\
	(type *)( (char *)__mptr - offsetof(type,member) );})
#define min(x, y) ((x) < (y) ? (x) : (y))
#define BUG() do { printk("BUG at %s:%d\n", __FILE__, __LINE__); panic("BUG"); } while (0)

typedef unsigned long size_t;
typedef long ssize_t;
typedef long long loff_t;

asmlinkage int printk(const char *fmt, ...);
void panic(const char *fmt, ...);

#endif
