/* SPDX-License-Identifier: MIT */
/* ferry: the host side.  One table drives dispatch and --help. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "base/log.h"
#include "base/version.h"
#include "wire.h"

static const struct {
        const char *name;
        int (*fn)(int argc, char **argv);
        const char *summary;
} commands[] = {
        { "push", cmd_push, "copy local files into the guest" },
        { "pull", cmd_pull, "copy files out of the guest" },
        { "setup", cmd_setup, "add the device ferry needs to a libvirt domain" },
        { "bench", cmd_bench, "measure the path to a ferryd: raw ceiling, end to end" },
        { "stats", cmd_stats, "a running ferryd's counters and budgets (--watch)" },
};

static void help(void) {
        printf("Usage: ferry COMMAND [OPTIONS] ...\n"
               "\n"
               "Moves files between a VM host and its guests (ferryd), verified chunk\n"
               "by chunk, over vsock, virtio-serial, Firecracker hybrid vsock, Unix or TCP.\n"
               "\n"
               "Commands:\n");
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
                printf("  %-6s %s\n", commands[i].name, commands[i].summary);
        printf("\n"
               "Run 'ferry COMMAND --help' for a command's options.\n"
               "\n"
               "Exit status (with several domains, the worst of theirs):\n"
               "  0  every file arrived and was verified\n"
               "  1  one or more files failed (each is named on stderr)\n"
               "  2  usage error\n"
               "  3  could not connect to ferryd, or it did not answer; with --domain also:\n"
               "     libvirt cannot be reached, no such domain, not running, no device\n"
               "  4  the session broke (connection lost, protocol error, timeout)\n"
               "  5  data arrived corrupted (chunk or file digest mismatch)\n");
}

int usage_error(const char *cmd, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "ferry: %s%s", cmd ? cmd : "", cmd ? ": " : "");
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nTry 'ferry %s%s--help' for more information.\n", cmd ? cmd : "", cmd ? " " : "");
        return EXIT_USAGE;
}

int main(int argc, char **argv) {
        log_init("ferry", LOG_WARN);
        if (argc < 2)
                return usage_error(NULL, "no command given");
        const char *cmd = argv[1];
        if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
                help();
                return EXIT_OK;
        }
        if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
                printf("ferry %s (protocol %d)\n", FERRY_VERSION, FY_PROTO_VERSION);
                return EXIT_OK;
        }
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
                if (!strcmp(cmd, commands[i].name))
                        return commands[i].fn(argc - 1, argv + 1);
        return usage_error(NULL, "unknown command '%s'", cmd);
}
