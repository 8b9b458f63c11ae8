#ifndef _LINUX_FS_H
#define _LINUX_FS_H

#include <linux/wait.h>

struct inode;
struct file;

struct file_operations {
	loff_t (*llseek) (struct file *, loff_t, int);
	ssize_t (*read) (struct file *, char *, size_t, loff_t *);
	ssize_t (*write) (struct file *, const char *, size_t, loff_t *);
	int (*open) (struct inode *, struct file *);
	int (*release) (struct inode *, struct file *);
};

struct pipe_inode_info {
	wait_queue_head_t wait;
	char *base;
	unsigned int start;
	unsigned int readers;
	unsigned int writers;
	unsigned int len;
};

struct inode {
	unsigned long i_ino;
	unsigned int i_count;
	struct pipe_inode_info *i_pipe;
	int i_sem;
};

struct dentry {
	struct inode *d_inode;
};

struct file {
	struct dentry *f_dentry;
	struct file_operations *f_op;
	loff_t f_pos;
	unsigned int f_flags;
	void *private_data;
};

#define PIPE_WAIT(inode)	(&(inode).i_pipe->wait)
#define PIPE_LEN(inode)		((inode).i_pipe->len)
#define PIPE_EMPTY(inode)	(PIPE_LEN(inode) == 0)

extern ssize_t vfs_read(struct file *, char *, size_t, loff_t *);
extern struct file *fget(unsigned int fd);
extern void fput(struct file *);

#endif
