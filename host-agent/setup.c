/* SPDX-License-Identifier: MIT */
/*
 * ferry setup --domain NAME [--vsock|--serial] [--apply]: the devices
 * ferry needs in a libvirt domain, printed, and with --apply attached
 * (domain.c does the libvirt side).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "domain.h"
#include "base/util.h"

static void help(void) {
        printf("Usage: ferry setup --domain NAME [-c URI] [--vsock | --serial] [--apply]\n"
               "\n"
               "Prints the device XML ferry needs in libvirt domain NAME to reach ferryd in\n"
               "the guest, and the ferryd command to run there.  With --apply, adds what\n"
               "the domain lacks: to the running domain and to its persistent\n"
               "configuration (a stopped domain: to its configuration, for the next\n"
               "start), with a virtio-serial controller first when it has none.\n"
               "\n"
               "Options:\n"
               "      --domain NAME    the domain\n"
               "  -c, --connect URI    libvirt URI (default: $LIBVIRT_DEFAULT_URI, else\n"
               "                       qemu:///system, then qemu:///session)\n"
               "      --vsock          a vsock device (a CID libvirt assigns)\n"
               "      --serial         a virtio-serial channel, a Unix socket on the host\n"
               "                       (default: vsock when this host has /dev/vhost-vsock)\n"
               "      --channel NAME   the channel's target name (default " DOMAIN_CHANNEL ")\n"
               "      --port N         the vsock port in the ferryd line (default %u)\n"
               "      --apply          attach the devices (a read-write connection)\n"
               "  -h, --help           this text\n"
               "\n"
               "Exit status: 0 done (or nothing to do), 1 attaching failed, 2 usage error,\n"
               "3 cannot connect to libvirt, no such domain.\n",
               DOMAIN_VSOCK_PORT);
}

int cmd_setup(int argc, char **argv) {
        enum { OPT_DOMAIN = 256, OPT_VSOCK, OPT_SERIAL, OPT_CHANNEL, OPT_PORT, OPT_APPLY };
        static const struct option opts[] = {
                { "domain", required_argument, NULL, OPT_DOMAIN },
                { "connect", required_argument, NULL, 'c' },
                { "vsock", no_argument, NULL, OPT_VSOCK },
                { "serial", no_argument, NULL, OPT_SERIAL },
                { "channel", required_argument, NULL, OPT_CHANNEL },
                { "port", required_argument, NULL, OPT_PORT },
                { "apply", no_argument, NULL, OPT_APPLY },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        struct domain_opts o = {};
        const char *name = NULL, *uri = NULL;
        bool apply = false;
        uint64_t v;
        int c;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":c:h", opts, NULL)) >= 0) {
                switch (c) {
                case OPT_DOMAIN:
                        if (name)
                                return usage_error("setup", "one --domain at a time");
                        name = optarg;
                        break;
                case 'c': uri = optarg; break;
                case OPT_VSOCK:
                case OPT_SERIAL:
                        if (o.via != DOMAIN_VIA_AUTO)
                                return usage_error("setup", "--vsock or --serial, not both");
                        o.via = c == OPT_VSOCK ? DOMAIN_VIA_VSOCK : DOMAIN_VIA_SERIAL;
                        break;
                case OPT_CHANNEL: o.channel = optarg; break;
                case OPT_PORT:
                        if (parse_size(optarg, &v) < 0 || v < 1 || v >= UINT32_MAX)
                                return usage_error("setup", "--port: invalid value '%s'", optarg);
                        o.port = (uint32_t)v;
                        break;
                case OPT_APPLY: apply = true; break;
                case 'h': help(); return EXIT_OK;
                case ':': return usage_error("setup", "option '%s' needs a value", argv[optind - 1]);
                default:
                        if (optopt)
                                return usage_error("setup", "unknown option '-%c'", optopt);
                        return usage_error("setup", "unknown option '%s'", argv[optind - 1]);
                }
        }
        if (!name || !name[0])
                return usage_error("setup", "which domain? (--domain NAME)");
        if (domain_is_glob(name))
                return usage_error("setup", "'%s': one domain by its name, not a pattern", name);
        if (optind < argc)
                return usage_error("setup", "unexpected argument '%s'", argv[optind]);
        if (o.channel && !o.channel[0])
                return usage_error("setup", "--channel: the name is empty");

        char err[1024];
        struct domain_conn *conn;
        int r = domain_open(uri, apply, &conn, err, sizeof err);
        if (r < 0) {
                fprintf(stderr, "ferry: %s: %s\n", name, err);
                return r == -EOPNOTSUPP ? EXIT_USAGE : EXIT_CONNECT;
        }
        r = domain_setup(conn, name, &o, apply, stdout, err, sizeof err);
        domain_close(conn);
        fflush(stdout);
        if (r < 0) {
                fprintf(stderr, "ferry: %s\n", err);
                return r == -ENOENT || r == -ECONNREFUSED ? EXIT_CONNECT : EXIT_FAILED;
        }
        return EXIT_OK;
}
