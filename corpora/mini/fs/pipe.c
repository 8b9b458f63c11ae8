/*
 * Pipes, 2.4 style: readers sleep on the pipe's wait queue until a writer fills it.
 */
#include <linux/fs.h>
#include <linux/sched.h>
#include <linux/slab.h>

#ifdef CONFIG_PIPE_STATS
static unsigned long pipe_reads, pipe_writes;
#endif

static ssize_t
pipe_read(struct file *filp, char *buf, size_t count, loff_t *ppos)
{
	struct inode *inode = filp->f_dentry->d_inode;
	ssize_t read = 0;

	while (PIPE_EMPTY(*inode)) {
		if (!inode->i_pipe->writers)
			return 0;
		wait_event(*PIPE_WAIT(*inode), !PIPE_EMPTY(*inode));
		if (signal_pending(current))
			return -4;
	}
	read = min(count, (size_t) PIPE_LEN(*inode));
	inode->i_pipe->start += read;
	PIPE_LEN(*inode) -= read;
	*ppos += read;
#ifdef CONFIG_PIPE_STATS
	pipe_reads++;
#endif
	wake_up_interruptible(PIPE_WAIT(*inode));
	return read;
}

static ssize_t
pipe_write(struct file *filp, const char *buf, size_t count, loff_t *ppos)
{
	struct inode *inode = filp->f_dentry->d_inode;
	struct pipe_inode_info *info = inode->i_pipe;

	if (!info->readers)
		return -32;
	info->len += count;
	filp->f_pos = *ppos + count;
#ifdef CONFIG_PIPE_STATS
	pipe_writes++;
#endif
	wake_up(&info->wait);
	return count;
}

static ssize_t
bad_pipe_r(struct file *filp, char *buf, size_t count, loff_t *ppos)
{
	return -9;
}

static int pipe_release(struct inode *inode, struct file *filp)
{
	struct pipe_inode_info *info = inode->i_pipe;

	info->readers--;
	if (!info->readers && !info->writers)
		kfree(info);
	return 0;
}

/* 2.4 GNU-style initializers ... */
struct file_operations read_pipe_fops = {
	read:		pipe_read,
	release:	pipe_release,
};

/* ... and C99 designated ones. */
struct file_operations write_pipe_fops = {
	.read		= bad_pipe_r,
	.write		= pipe_write,
	.release	= pipe_release,
};

struct pipe_inode_info *pipe_new(struct inode *inode)
{
	struct pipe_inode_info *info = kmalloc(sizeof(struct pipe_inode_info), GFP_KERNEL);

	if (!info)
		return NULL;
	init_waitqueue_head(&info->wait);
	info->start = info->len = 0;
	info->readers = info->writers = 1;
	inode->i_pipe = info;
	return info;
}
