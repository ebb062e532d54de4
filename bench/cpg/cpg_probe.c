/* SPDX-License-Identifier: MIT */
/*
 * cpg_probe - scenario 7 of the suite: the Corosync CPG counterparts of the
 * GSAPI scenarios, against the corosync of this network namespace
 * (scripts/bench-cpg.sh starts one in a private namespace).
 *
 *   cpg_probe [--iterations N] [--kill-rounds N]
 *
 * cpg.join:               cpg_join until the confchg listing this process
 *                         as joined (then cpg_leave, untimed).
 * cpg.mcast.receivers=R:  a 16-byte AGREED cpg_mcast_joined until the last
 *                         of R receiver processes has it delivered.
 * cpg.kill.member:        a member process killed with SIGKILL until the
 *                         confchg naming it as left, here.
 * cpg.kill.watchers:      the same until the last of 10 other member
 *                         processes has that confchg.
 *
 * Prints one JSON object per line, like bench_gs. Receivers are forked
 * children that report on a pipe (same record layout as bench/harness.hpp).
 */
#define _GNU_SOURCE
#include <corosync/cpg.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { REPORT_READY = -1, REPORT_DELIVERY = 1, REPORT_LEFT = 2 };

struct report {
    int32_t child;
    int32_t kind;
    int64_t count;
    int64_t at_ns;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void fail(const char *what, cs_error_t rc)
{
    fprintf(stderr, "cpg_probe: %s: corosync error %d\n", what, (int)rc);
    exit(1);
}

static struct cpg_name group_name(const char *text)
{
    struct cpg_name name;
    memset(&name, 0, sizeof name);
    name.length = (uint32_t)strlen(text);
    memcpy(name.value, text, name.length);
    return name;
}

/* ---- what the callbacks saw ------------------------------------------- */

static uint32_t g_pid;
static int g_report_fd = -1;
static int g_child = 0;
static int64_t g_deliveries;
static int64_t g_last_delivery_ns;
static int g_joined_pid_seen; /* the pid we wait to see joined */
static int g_left_pid_seen;   /* the pid we wait to see leave */
static uint32_t g_wait_join_pid;
static uint32_t g_wait_left_pid;
static int64_t g_event_ns;
static int g_own_delivered; /* our own multicast came back */

static void send_report(int32_t kind, int64_t at_ns)
{
    struct report r;
    r.child = g_child;
    r.kind = kind;
    r.count = g_deliveries;
    r.at_ns = at_ns;
    /* One write below PIPE_BUF: atomic, so children never interleave. */
    while (write(g_report_fd, &r, sizeof r) < 0 && errno == EINTR) {
    }
}

static void on_deliver(cpg_handle_t handle, const struct cpg_name *name, uint32_t nodeid,
                       uint32_t pid, void *msg, size_t msg_len)
{
    const int64_t at = now_ns();
    (void)handle;
    (void)name;
    (void)nodeid;
    (void)msg;
    (void)msg_len;
    g_deliveries++;
    g_last_delivery_ns = at;
    if (pid == g_pid)
        g_own_delivered = 1;
    if (g_report_fd >= 0)
        send_report(REPORT_DELIVERY, at);
}

static int lists_pid(const struct cpg_address *list, size_t entries, uint32_t pid)
{
    size_t i;
    for (i = 0; i < entries; i++)
        if (list[i].pid == pid)
            return 1;
    return 0;
}

static void on_confchg(cpg_handle_t handle, const struct cpg_name *name,
                       const struct cpg_address *members, size_t member_count,
                       const struct cpg_address *left, size_t left_count,
                       const struct cpg_address *joined, size_t joined_count)
{
    const int64_t at = now_ns();
    (void)handle;
    (void)name;
    (void)members;
    (void)member_count;
    if (lists_pid(joined, joined_count, g_wait_join_pid)) {
        g_joined_pid_seen = 1;
        g_event_ns = at;
    }
    if (lists_pid(left, left_count, g_wait_left_pid)) {
        g_left_pid_seen = 1;
        g_event_ns = at;
    }
    /* Receivers: ready once they see themselves join; report every leave. */
    if (g_report_fd >= 0) {
        if (lists_pid(joined, joined_count, g_pid))
            send_report(REPORT_READY, at);
        if (left_count > 0)
            send_report(REPORT_LEFT, at);
    }
}

static cpg_handle_t connect_cpg(void)
{
    cpg_handle_t handle;
    cpg_model_v1_data_t model;
    cs_error_t rc;
    memset(&model, 0, sizeof model);
    model.model = CPG_MODEL_V1;
    model.cpg_deliver_fn = on_deliver;
    model.cpg_confchg_fn = on_confchg;
    rc = cpg_model_initialize(&handle, CPG_MODEL_V1, (cpg_model_data_t *)&model, NULL);
    if (rc != CS_OK)
        fail("cpg_model_initialize", rc);
    return handle;
}

/* Runs callbacks until *flag is set (or 20 s pass). */
static void dispatch_until(cpg_handle_t handle, const int *flag, const char *what)
{
    int fd = -1;
    const int64_t deadline = now_ns() + 20000000000LL;
    cs_error_t rc = cpg_fd_get(handle, &fd);
    if (rc != CS_OK)
        fail("cpg_fd_get", rc);
    while (!*flag) {
        struct pollfd pfd;
        pfd.fd = fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        if (poll(&pfd, 1, 100) > 0) {
            rc = cpg_dispatch(handle, CS_DISPATCH_ALL);
            if (rc != CS_OK && rc != CS_ERR_TRY_AGAIN)
                fail("cpg_dispatch", rc);
        }
        if (now_ns() > deadline) {
            fprintf(stderr, "cpg_probe: %s: nothing within 20 s\n", what);
            exit(1);
        }
    }
}

static void join_group(cpg_handle_t handle, const struct cpg_name *name)
{
    cs_error_t rc;
    /* TRY_AGAIN while corosync syncs; a short pause keeps it out of the
     * measured time as far as possible. */
    while ((rc = cpg_join(handle, name)) == CS_ERR_TRY_AGAIN)
        usleep(50);
    if (rc != CS_OK)
        fail("cpg_join", rc);
}

/* ---- receivers (children) ----------------------------------------------- */

static pid_t start_receiver(int child, int report_fd, const char *group)
{
    const pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        const struct cpg_name name = group_name(group);
        const int never = 0;
        cpg_handle_t handle;
        /* Gone with the prober, however it ends. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        g_pid = (uint32_t)getpid();
        g_child = child;
        g_report_fd = report_fd;
        g_wait_join_pid = g_wait_left_pid = 0;
        handle = connect_cpg();
        join_group(handle, &name);
        for (;;)
            dispatch_until(handle, &never, "receiver");
    }
    return pid;
}

static struct report read_report(int fd)
{
    struct report r;
    size_t got = 0;
    while (got < sizeof r) {
        struct pollfd pfd;
        ssize_t n;
        pfd.fd = fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        if (poll(&pfd, 1, 20000) == 0) {
            fprintf(stderr, "cpg_probe: no report from a receiver within 20 s\n");
            exit(1);
        }
        n = read(fd, (char *)&r + got, sizeof r - got);
        if (n > 0)
            got += (size_t)n;
        else if (n < 0 && errno != EINTR) {
            perror("read");
            exit(1);
        }
    }
    return r;
}

/* Latest time among the next `count` reports of `kind` (others dropped). */
static int64_t await_reports(int fd, int count, int32_t kind)
{
    int64_t latest = 0;
    int seen = 0;
    while (seen < count) {
        const struct report r = read_report(fd);
        if (r.kind != kind)
            continue;
        if (r.at_ns > latest)
            latest = r.at_ns;
        seen++;
    }
    return latest;
}

static void stop_children(const pid_t *pids, int count)
{
    int i;
    int status;
    for (i = 0; i < count; i++)
        kill(pids[i], SIGKILL);
    for (i = 0; i < count; i++)
        waitpid(pids[i], &status, 0);
}

/* ---- statistics and output ---------------------------------------------- */

static int compare_doubles(const void *a, const void *b)
{
    const double x = *(const double *)a;
    const double y = *(const double *)b;
    return (x > y) - (x < y);
}

static void emit_latency(const char *id, double *samples, size_t n)
{
    size_t p99;
    double median;
    qsort(samples, n, sizeof *samples, compare_doubles);
    p99 = (size_t)((99 * n + 99) / 100) - 1; /* ceil(0.99 n) - 1 */
    if (p99 >= n)
        p99 = n - 1;
    median = n % 2 ? samples[n / 2] : (samples[n / 2 - 1] + samples[n / 2]) / 2.0;
    printf("{\"id\": \"%s\", \"n\": %zu, \"median_us\": %.2f, \"p99_us\": %.2f}\n", id, n, median,
           samples[p99]);
    fflush(stdout);
}

static double *allocate_samples(int n)
{
    double *samples = calloc((size_t)n, sizeof *samples);
    if (samples == NULL) {
        perror("calloc");
        exit(1);
    }
    return samples;
}

/* ---- scenarios ------------------------------------------------------------ */

/* A handle joins only once (a second cpg_join after cpg_leave returns
 * CS_ERR_EXIST), so each iteration connects anew, untimed. */
static void measure_join(int warmup, int iterations)
{
    const struct cpg_name name = group_name("bench-join");
    double *samples = allocate_samples(iterations);
    int i;
    g_wait_join_pid = g_wait_left_pid = g_pid;
    for (i = 0; i < warmup + iterations; i++) {
        const cpg_handle_t handle = connect_cpg();
        int64_t start;
        cs_error_t rc;
        g_joined_pid_seen = g_left_pid_seen = 0;
        start = now_ns();
        join_group(handle, &name);
        dispatch_until(handle, &g_joined_pid_seen, "own join");
        if (i >= warmup)
            samples[i - warmup] = (double)(g_event_ns - start) / 1000.0;
        while ((rc = cpg_leave(handle, &name)) == CS_ERR_TRY_AGAIN)
            usleep(1000);
        if (rc != CS_OK)
            fail("cpg_leave", rc);
        dispatch_until(handle, &g_left_pid_seen, "own leave");
        cpg_finalize(handle);
    }
    emit_latency("cpg.join", samples, (size_t)iterations);
    free(samples);
}

static void measure_mcast(int receivers, int warmup, int iterations)
{
    char group[64];
    char id[64];
    struct cpg_name name;
    double *samples = allocate_samples(iterations);
    pid_t *pids = calloc((size_t)receivers, sizeof *pids);
    int pipe_fds[2];
    cpg_handle_t handle;
    char payload[16];
    struct iovec iov;
    int i;

    snprintf(group, sizeof group, "bench-mcast-%d", receivers);
    name = group_name(group);
    if (pids == NULL || pipe(pipe_fds) != 0) {
        perror("pipe");
        exit(1);
    }
    for (i = 0; i < receivers; i++)
        pids[i] = start_receiver(i, pipe_fds[1], group);
    await_reports(pipe_fds[0], receivers, REPORT_READY);

    handle = connect_cpg();
    g_wait_join_pid = g_pid;
    g_wait_left_pid = 0;
    g_joined_pid_seen = 0;
    join_group(handle, &name);
    dispatch_until(handle, &g_joined_pid_seen, "own join");

    memset(payload, 'x', sizeof payload);
    iov.iov_base = payload;
    iov.iov_len = sizeof payload;
    for (i = 0; i < warmup + iterations; i++) {
        const int64_t start = now_ns();
        int64_t last;
        cs_error_t rc;
        g_own_delivered = 0;
        while ((rc = cpg_mcast_joined(handle, CPG_TYPE_AGREED, &iov, 1)) == CS_ERR_TRY_AGAIN)
            usleep(100);
        if (rc != CS_OK)
            fail("cpg_mcast_joined", rc);
        last = await_reports(pipe_fds[0], receivers, REPORT_DELIVERY);
        /* Our own copy too, so nothing piles up between iterations. */
        dispatch_until(handle, &g_own_delivered, "own delivery");
        if (i >= warmup)
            samples[i - warmup] = (double)(last - start) / 1000.0;
    }
    snprintf(id, sizeof id, "cpg.mcast.receivers=%d", receivers);
    emit_latency(id, samples, (size_t)iterations);
    cpg_finalize(handle);
    stop_children(pids, receivers);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    free(pids);
    free(samples);
}

static void measure_kill(int watchers, int rounds)
{
    const char *group = "bench-kill";
    const struct cpg_name name = group_name(group);
    double *member_us = allocate_samples(rounds);
    double *watchers_us = allocate_samples(rounds);
    pid_t *pids = calloc((size_t)watchers, sizeof *pids);
    int pipe_fds[2];
    cpg_handle_t handle;
    int i;

    if (pids == NULL || pipe(pipe_fds) != 0) {
        perror("pipe");
        exit(1);
    }
    for (i = 0; i < watchers; i++)
        pids[i] = start_receiver(i, pipe_fds[1], group);
    await_reports(pipe_fds[0], watchers, REPORT_READY);
    handle = connect_cpg();
    g_wait_join_pid = g_pid;
    g_joined_pid_seen = 0;
    join_group(handle, &name);
    dispatch_until(handle, &g_joined_pid_seen, "own join");

    for (i = 0; i < rounds; i++) {
        pid_t victim;
        int64_t start;
        int64_t last;
        int status;
        g_joined_pid_seen = g_left_pid_seen = 0;
        victim = start_receiver(1000 + i, pipe_fds[1], group);
        g_wait_join_pid = g_wait_left_pid = (uint32_t)victim;
        await_reports(pipe_fds[0], 1, REPORT_READY);
        dispatch_until(handle, &g_joined_pid_seen, "victim's join");

        start = now_ns();
        kill(victim, SIGKILL);
        dispatch_until(handle, &g_left_pid_seen, "victim's leave");
        last = await_reports(pipe_fds[0], watchers, REPORT_LEFT);
        member_us[i] = (double)(g_event_ns - start) / 1000.0;
        watchers_us[i] = (double)(last - start) / 1000.0;
        waitpid(victim, &status, 0);
    }
    emit_latency("cpg.kill.member", member_us, (size_t)rounds);
    emit_latency("cpg.kill.watchers", watchers_us, (size_t)rounds);
    cpg_finalize(handle);
    stop_children(pids, watchers);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    free(pids);
    free(member_us);
    free(watchers_us);
}

static int max_int(int a, int b)
{
    return a > b ? a : b;
}

int main(int argc, char **argv)
{
    int iterations = 2000;
    int kill_rounds = 100;
    int i;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc)
            iterations = atoi(argv[++i]);
        else if (strcmp(argv[i], "--kill-rounds") == 0 && i + 1 < argc)
            kill_rounds = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: cpg_probe [--iterations N] [--kill-rounds N]\n");
            return 2;
        }
    }
    if (iterations <= 0 || kill_rounds <= 0) {
        fprintf(stderr, "cpg_probe: counts must be positive\n");
        return 2;
    }
    g_pid = (uint32_t)getpid();
    /* The same iteration counts as bench_gs's latency scenario. */
    measure_join(iterations / 10, iterations);
    measure_mcast(1, max_int(iterations / 40, 10), max_int(iterations / 4, 50));
    measure_mcast(10, max_int(iterations / 40, 10), max_int(iterations / 4, 50));
    measure_mcast(100, max_int(iterations / 100, 10), max_int(iterations / 10, 50));
    measure_kill(10, kill_rounds);
    return 0;
}
