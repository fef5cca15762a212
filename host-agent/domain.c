/* SPDX-License-Identifier: MIT */
/*
 * libvirt domains to transport targets (domain.h).  libvirt for the domain
 * and its live XML, libxml2's XPath for reading it (libvirt's own XML
 * library; the XML is never picked apart by hand).
 *
 * Built with -DFERRY_NO_LIBVIRT for ferry.static (Debian ships no static
 * libvirt): every call then says that this build has no libvirt.
 */
#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef FERRY_NO_LIBVIRT
#include <dlfcn.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <linux/vm_sockets.h>
#endif

#include "domain.h"
#include "base/util.h"

static void say(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *err, size_t errlen, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
}

bool domain_is_glob(const char *s) {
        return strpbrk(s, "*?[") != NULL;
}

#ifdef FERRY_NO_LIBVIRT

#define NO_LIBVIRT "this ferry was built without libvirt (a static build): name the guest with --to TARGET, " \
                   "or use the dynamically linked ferry"

int domain_open(const char *uri, bool read_write, struct domain_conn **ret, char *err, size_t errlen) {
        (void)uri, (void)read_write, (void)ret;
        say(err, errlen, NO_LIBVIRT);
        return -EOPNOTSUPP;
}

struct domain_conn *domain_close(struct domain_conn *c) {
        (void)c;
        return NULL;
}

const char *domain_uri(const struct domain_conn *c) {
        (void)c;
        return "";
}

int domain_match(struct domain_conn *c, char *const *patterns, size_t n, char ***ret_names, size_t *ret_n, char *err,
                 size_t errlen) {
        (void)c, (void)patterns, (void)n, (void)ret_names, (void)ret_n;
        say(err, errlen, NO_LIBVIRT);
        return -EOPNOTSUPP;
}

int domain_target(struct domain_conn *c, const char *name, const struct domain_opts *o, struct target *ret,
                  char *err, size_t errlen) {
        (void)c, (void)name, (void)o, (void)ret;
        say(err, errlen, NO_LIBVIRT);
        return -EOPNOTSUPP;
}

int domain_setup(struct domain_conn *c, const char *name, const struct domain_opts *o, bool apply, FILE *out,
                 char *err, size_t errlen) {
        (void)c, (void)name, (void)o, (void)apply, (void)out;
        say(err, errlen, NO_LIBVIRT);
        return -EOPNOTSUPP;
}

#else

/* libvirt and libxml2 are opened when a domain is first named, not linked:
 * loading them runs their libraries' constructors (gnutls, glib, ICU and
 * more), about 60 ms at every start of ferry, which a copy by target never
 * needed.  Measured: a program that only links libvirt starts in 0.05 s,
 * one that only links libxml2 13 ms later than one that links neither; over
 * virtio-serial in the test guest a 64 MiB pull took 0.45-0.73 s by
 * ferry.static against 0.77-0.84 s by the linked ferry.  ferry's package
 * still depends on both (debian/control). */
#define VIRT_LIB "libvirt.so.0"
#define XML_LIB "libxml2.so.2"
#define VIRT_FUNCS(X)                                                                                          \
        X(virInitialize) X(virSetErrorFunc) X(virGetLastErrorMessage) X(virGetLastErrorCode)                   \
        X(virConnectOpenReadOnly) X(virConnectOpenAuth) X(virConnectClose) X(virConnectRef)                    \
        X(virConnectListAllDomains) X(virDomainLookupByName) X(virDomainIsPersistent) X(virDomainIsActive)     \
        X(virDomainGetXMLDesc) X(virDomainGetName) X(virDomainAttachDeviceFlags) X(virDomainFree)
#define XML_FUNCS(X)                                                                                           \
        X(xmlInitParser) X(xmlSetGenericErrorFunc) X(xmlThrDefSetGenericErrorFunc) X(xmlReadMemory)            \
        X(xmlFreeDoc) X(xmlXPathNewContext) X(xmlXPathFreeContext) X(xmlXPathEval) X(xmlXPathFreeObject)

static struct {
#define X(f) __typeof__(&f) f;
        VIRT_FUNCS(X)
        XML_FUNCS(X)
#undef X
        virConnectAuthPtr *auth_default; /* a variable of libvirt's */
        bool loaded;
        char why[256]; /* when not loaded */
} virt;

static void *lib_open(const char *name) {
        void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
        if (!h)
                snprintf(virt.why, sizeof virt.why, "%s", dlerror());
        return h;
}

static void virt_load(void) {
        void *v = lib_open(VIRT_LIB), *x = v ? lib_open(XML_LIB) : NULL;
        if (!x) {
                if (v)
                        dlclose(v);
                return;
        }
        const char *missing = NULL, *in = VIRT_LIB;
#define X(f)                                                      \
        if (!missing && !(virt.f = (__typeof__(&f))dlsym(h, #f))) \
                missing = #f;
        void *h = v;
        VIRT_FUNCS(X)
        if (!missing && !(virt.auth_default = dlsym(v, "virConnectAuthPtrDefault")))
                missing = "virConnectAuthPtrDefault";
        if (!missing) {
                h = x;
                in = XML_LIB;
                XML_FUNCS(X)
        }
#undef X
        if (missing) {
                snprintf(virt.why, sizeof virt.why, "%s has no %s", in, missing);
                dlclose(x);
                dlclose(v);
                return;
        }
        virt.loaded = true; /* (never closed: connections live until exit) */
}

struct domain_conn {
        virConnectPtr conn;   /* for listing and setup */
        char uri[256];        /* as opened (the default resolved) */
        bool explicit_uri;    /* -c or $LIBVIRT_DEFAULT_URI: hints repeat it */
        bool read_write;
};

static inline void conn_closep(virConnectPtr *p) {
        if (*p)
                virt.virConnectClose(*p);
}
static inline void dom_freep(virDomainPtr *p) {
        if (*p)
                virt.virDomainFree(*p);
}
static inline void doc_freep(xmlDocPtr *p) {
        if (*p)
                virt.xmlFreeDoc(*p);
}
static inline void xpath_ctx_freep(xmlXPathContextPtr *p) {
        if (*p)
                virt.xmlXPathFreeContext(*p);
}
static inline void xpath_obj_freep(xmlXPathObjectPtr *p) {
        if (*p)
                virt.xmlXPathFreeObject(*p);
}

/* libvirt prints every error to stderr unless told otherwise; ferry says
 * each once, in its own words, from virGetLastErrorMessage (per thread). */
static void quiet(void *ud, virErrorPtr e) {
        (void)ud, (void)e;
}

/* libxml2 prints its warnings (a test driver's file that is missing) to
 * stderr as well; libvirt reports the same failure as an error. */
static void xml_quiet(void *ctx, const char *msg, ...) {
        (void)ctx, (void)msg;
}

static void init_once(void) {
        virt_load();
        if (!virt.loaded)
                return;
        /* Both libraries want their globals set up before threads use them. */
        (void)virt.virInitialize();
        virt.virSetErrorFunc(NULL, quiet);
        virt.xmlInitParser();
        virt.xmlSetGenericErrorFunc(NULL, xml_quiet);   /* this thread */
        virt.xmlThrDefSetGenericErrorFunc(NULL, xml_quiet); /* threads made later */
}

static void init(void) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, init_once);
}

/* libvirt's last error, one line. */
static const char *virt_error(void) {
        const char *m = virt.virGetLastErrorMessage();
        return m && *m ? m : "unknown libvirt error";
}

static virConnectPtr open_uri(const char *uri, bool read_write) {
        if (read_write)
                return virt.virConnectOpenAuth(uri, *virt.auth_default, 0);
        return virt.virConnectOpenReadOnly(uri);
}

int domain_open(const char *uri, bool read_write, struct domain_conn **ret, char *err, size_t errlen) {
        init();
        if (!virt.loaded) {
                say(err, errlen, "cannot load libvirt (%s): install libvirt0 and libxml2, or name the guest with --to TARGET", virt.why);
                return -EOPNOTSUPP;
        }
        struct domain_conn *c = calloc(1, sizeof *c);
        if (!c) {
                say(err, errlen, "out of memory");
                return -ENOMEM;
        }
        c->read_write = read_write;
        const char *env = getenv("LIBVIRT_DEFAULT_URI");
        if (!uri && env && *env)
                uri = env;
        if (uri) {
                c->explicit_uri = true;
                snprintf(c->uri, sizeof c->uri, "%s", uri);
                c->conn = open_uri(uri, read_write);
                if (!c->conn) {
                        say(err, errlen, "cannot open libvirt connection '%s': %s", uri, virt_error());
                        free(c);
                        return -ECONNREFUSED;
                }
        } else {
                /* virsh's order for a host's QEMU guests: the system
                 * instance, then the user's own. */
                char first[512];
                snprintf(c->uri, sizeof c->uri, "qemu:///system");
                c->conn = open_uri(c->uri, read_write);
                if (!c->conn) {
                        snprintf(first, sizeof first, "%s", virt_error());
                        snprintf(c->uri, sizeof c->uri, "qemu:///session");
                        c->conn = open_uri(c->uri, read_write);
                }
                if (!c->conn) {
                        say(err, errlen, "cannot open libvirt at qemu:///system (%s) nor qemu:///session (%s); "
                                         "name one with -c URI", first, virt_error());
                        free(c);
                        return -ECONNREFUSED;
                }
        }
        *ret = c;
        return 0;
}

struct domain_conn *domain_close(struct domain_conn *c) {
        if (c) {
                if (c->conn)
                        virt.virConnectClose(c->conn);
                free(c);
        }
        return NULL;
}

const char *domain_uri(const struct domain_conn *c) {
        return c->uri;
}

/* A connection for one question (the caller closes it).  domain_target
 * opens its own every time: nothing is carried from one connect to the
 * next, not even the connection, so a daemon restarted in between, or a
 * test driver's file rewritten, is seen as it is now.  One connection per
 * connect costs a few ms; a transfer connects once, or after a loss. */
static int conn_get(struct domain_conn *c, bool fresh, virConnectPtr *ret, char *err, size_t errlen) {
        virConnectPtr conn = fresh ? open_uri(c->uri, c->read_write) : c->conn;
        if (!conn) {
                say(err, errlen, "cannot open libvirt connection '%s': %s", c->uri, virt_error());
                return -ECONNREFUSED;
        }
        if (!fresh && virt.virConnectRef(conn) < 0) {
                say(err, errlen, "libvirt: %s", virt_error());
                return -EIO;
        }
        *ret = conn;
        return 0;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int domain_match(struct domain_conn *c, char *const *patterns, size_t n, char ***ret_names, size_t *ret_n, char *err,
                 size_t errlen) {
        _cleanup_(conn_closep) virConnectPtr conn = NULL;
        virDomainPtr *doms = NULL;
        int ndoms = 0, r;
        bool globs = false;
        for (size_t i = 0; i < n; i++)
                globs |= domain_is_glob(patterns[i]);
        if (globs) {
                if ((r = conn_get(c, false, &conn, err, errlen)) < 0)
                        return r;
                ndoms = virt.virConnectListAllDomains(conn, &doms, 0);
                if (ndoms < 0) {
                        say(err, errlen, "cannot list the domains of %s: %s", c->uri, virt_error());
                        return -EIO;
                }
        }
        /* Every name, then one block with the pointers and the strings. */
        const char **names = calloc((size_t)ndoms + n + 1, sizeof *names);
        const char **sorted = calloc((size_t)ndoms + 1, sizeof *sorted);
        size_t count = 0, bytes = 0;
        r = names && sorted ? 0 : -ENOMEM;
        for (size_t i = 0; r == 0 && i < n; i++) {
                size_t m = 0;
                if (!domain_is_glob(patterns[i]))
                        sorted[m++] = patterns[i];
                for (int d = 0; d < ndoms && domain_is_glob(patterns[i]); d++) {
                        const char *dn = virt.virDomainGetName(doms[d]);
                        if (dn && fnmatch(patterns[i], dn, 0) == 0)
                                sorted[m++] = dn;
                }
                if (m == 0) {
                        say(err, errlen, "no domain matches '%s' on %s", patterns[i], c->uri);
                        r = -ENOENT;
                        break;
                }
                qsort(sorted, m, sizeof *sorted, cmp_str);
                for (size_t k = 0; k < m; k++) {
                        bool dup = false;
                        for (size_t j = 0; j < count && !dup; j++)
                                dup = !strcmp(names[j], sorted[k]);
                        if (!dup) {
                                names[count++] = sorted[k];
                                bytes += strlen(sorted[k]) + 1;
                        }
                }
        }
        char **out = NULL;
        if (r == 0 && !(out = malloc((count + 1) * sizeof *out + bytes)))
                r = -ENOMEM;
        if (r == 0) {
                char *p = (char *)(out + count + 1);
                for (size_t k = 0; k < count; k++) {
                        out[k] = p;
                        p = stpcpy(p, names[k]) + 1;
                }
                out[count] = NULL;
                *ret_names = out;
                *ret_n = count;
        } else if (r == -ENOMEM) {
                say(err, errlen, "out of memory");
        }
        free(names);
        free(sorted);
        for (int d = 0; d < ndoms; d++)
                virt.virDomainFree(doms[d]);
        free(doms);
        return r;
}

/* ---- the XML */

/* What ferry reads off a domain's XML. */
struct devices {
        bool vsock;                  /* a <vsock> device */
        uint32_t cid;                /* its CID; 0: none assigned (yet) */
        bool controller;             /* a virtio-serial controller */
        bool channel;                /* a virtio channel with our target name */
        char chan_type[32];          /* its <channel type=...> */
        char chan_mode[32];          /* its <source mode=...> */
        char chan_path[TARGET_PATH_MAX + 64]; /* its <source path=...> */
};

/* The string value of expr evaluated at node (NULL: the document). */
static int xpath_string(xmlXPathContextPtr ctx, xmlNodePtr node, const char *expr, char *buf, size_t len) {
        ctx->node = node;
        _cleanup_(xpath_obj_freep) xmlXPathObjectPtr o = virt.xmlXPathEval((const xmlChar *)expr, ctx);
        if (!o || o->type != XPATH_STRING)
                return -EIO;
        snprintf(buf, len, "%s", o->stringval ? (const char *)o->stringval : "");
        return 0;
}

static int read_devices(const char *xml, const char *channel, struct devices *ret) {
        struct devices d = {};
        char v[64];
        _cleanup_(doc_freep) xmlDocPtr doc =
                virt.xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR |
                                                                        XML_PARSE_NOWARNING);
        if (!doc)
                return -EIO;
        _cleanup_(xpath_ctx_freep) xmlXPathContextPtr ctx = virt.xmlXPathNewContext(doc);
        if (!ctx)
                return -ENOMEM;
        if (xpath_string(ctx, NULL, "string(count(/domain/devices/vsock))", v, sizeof v) < 0)
                return -EIO;
        d.vsock = strcmp(v, "0") != 0;
        if (xpath_string(ctx, NULL, "string(/domain/devices/vsock/cid/@address)", v, sizeof v) < 0)
                return -EIO;
        char *end;
        unsigned long cid = strtoul(v, &end, 10);
        if (*v && !*end && cid > VMADDR_CID_HOST && cid < VMADDR_CID_ANY)
                d.cid = (uint32_t)cid;
        if (xpath_string(ctx, NULL, "string(count(/domain/devices/controller[@type='virtio-serial']))", v,
                         sizeof v) < 0)
                return -EIO;
        d.controller = strcmp(v, "0") != 0;

        /* The channel: its name is compared here, not spliced into an
         * XPath expression (a name may hold quotes). */
        ctx->node = NULL;
        _cleanup_(xpath_obj_freep) xmlXPathObjectPtr set =
                virt.xmlXPathEval((const xmlChar *)"/domain/devices/channel[target/@type='virtio']", ctx);
        if (!set || set->type != XPATH_NODESET)
                return -EIO;
        for (int i = 0; set->nodesetval && i < set->nodesetval->nodeNr && !d.channel; i++) {
                xmlNodePtr node = set->nodesetval->nodeTab[i];
                char name[256];
                if (xpath_string(ctx, node, "string(target/@name)", name, sizeof name) < 0)
                        return -EIO;
                if (strcmp(name, channel))
                        continue;
                d.channel = true;
                if (xpath_string(ctx, node, "string(@type)", d.chan_type, sizeof d.chan_type) < 0 ||
                    xpath_string(ctx, node, "string(source/@mode)", d.chan_mode, sizeof d.chan_mode) < 0 ||
                    xpath_string(ctx, node, "string(source/@path)", d.chan_path, sizeof d.chan_path) < 0)
                        return -EIO;
        }
        *ret = d;
        return 0;
}

/* Can this host connect to a guest's CID?  The host end of a guest's vsock
 * is vhost-vsock: QEMU opens /dev/vhost-vsock to give a guest one, so
 * without it no guest here has a reachable CID. */
static bool vsock_reachable(void) {
        if (access("/dev/vhost-vsock", F_OK) < 0)
                return false;
        int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return false;
        safe_close(fd);
        return true;
}

/* Look name up; the domain's live XML (inactive: its config) and state. */
static int lookup(struct domain_conn *c, virConnectPtr conn, const char *name, virDomainPtr *ret_dom,
                  char *err, size_t errlen) {
        virDomainPtr dom = virt.virDomainLookupByName(conn, name);
        if (!dom) {
                if (virt.virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) {
                        say(err, errlen, "%s: no such domain on %s", name, c->uri);
                        return -ENOENT;
                }
                say(err, errlen, "%s: libvirt: %s", name, virt_error());
                return -EIO;
        }
        *ret_dom = dom;
        return 0;
}

static char *get_xml(virDomainPtr dom, unsigned flags, const char *name, char *err, size_t errlen) {
        char *xml = virt.virDomainGetXMLDesc(dom, flags);
        if (!xml)
                say(err, errlen, "%s: cannot read its XML: %s", name, virt_error());
        return xml;
}

/* " -c URI" for a hint, when the user named one. */
static const char *hint_uri(const struct domain_conn *c, char *buf, size_t len) {
        if (!c->explicit_uri)
                return "";
        snprintf(buf, len, " -c %s", c->uri);
        return buf;
}

/* The channel as a target, or why it cannot be one. */
static int channel_target(const struct devices *d, const char *name, const char *channel, struct target *ret,
                          char *err, size_t errlen) {
        if (strcmp(d->chan_type, "unix")) {
                say(err, errlen, "%s: channel '%s' is type='%s'; ferry needs type='unix' with <source mode='bind'/>",
                    name, channel, d->chan_type);
                return -ENODEV;
        }
        if (d->chan_mode[0] && strcmp(d->chan_mode, "bind")) {
                say(err, errlen, "%s: channel '%s' has <source mode='%s'/>; ferry connects to it, so it needs "
                                 "mode='bind'", name, channel, d->chan_mode);
                return -ENODEV;
        }
        if (!d->chan_path[0]) {
                say(err, errlen, "%s: channel '%s' has no socket path in the domain's live XML", name, channel);
                return -ENODEV;
        }
        if (strlen(d->chan_path) >= TARGET_PATH_MAX) {
                say(err, errlen, "%s: channel '%s': socket path too long for a Unix socket: %s", name, channel,
                    d->chan_path);
                return -ENAMETOOLONG;
        }
        struct target t = { .kind = TARGET_SERIAL, .cid = VSOCK_CID_ANY };
        memcpy(t.path, d->chan_path, strlen(d->chan_path) + 1); /* fits: checked above */
        *ret = t;
        return 0;
}

int domain_target(struct domain_conn *c, const char *name, const struct domain_opts *o, struct target *ret,
                  char *err, size_t errlen) {
        const char *channel = o->channel ? o->channel : DOMAIN_CHANNEL;
        char hint[300], chopt[300] = "";
        _cleanup_(conn_closep) virConnectPtr conn = NULL;
        _cleanup_(dom_freep) virDomainPtr dom = NULL;
        int r;
        if ((r = conn_get(c, true, &conn, err, errlen)) < 0 || (r = lookup(c, conn, name, &dom, err, errlen)) < 0)
                return r;
        r = virt.virDomainIsActive(dom);
        if (r < 0) {
                say(err, errlen, "%s: libvirt: %s", name, virt_error());
                return -EIO;
        }
        if (r == 0) {
                say(err, errlen, "%s: domain is not running (virsh%s start %s)", name, hint_uri(c, hint, sizeof hint),
                    name);
                return -EHOSTDOWN;
        }
        _cleanup_free_ char *xml = get_xml(dom, 0, name, err, errlen);
        if (!xml)
                return -EIO;
        struct devices d;
        if ((r = read_devices(xml, channel, &d)) < 0) {
                say(err, errlen, "%s: cannot read the devices in its XML (%s)", name, strerror(-r));
                return r;
        }
        hint_uri(c, hint, sizeof hint);
        if (o->channel && strcmp(o->channel, DOMAIN_CHANNEL))
                snprintf(chopt, sizeof chopt, " --channel %s", o->channel);
        uint32_t port = o->port ? o->port : DOMAIN_VSOCK_PORT;
        struct target t = { .kind = TARGET_VSOCK, .cid = d.cid, .port = port };

        switch (o->via) {
        case DOMAIN_VIA_VSOCK:
                if (!d.vsock) {
                        say(err, errlen, "%s: no vsock device (run: ferry setup%s --domain %s --vsock)", name, hint, name);
                        return -ENODEV;
                }
                if (!d.cid) {
                        say(err, errlen, "%s: its vsock device has no CID in the live XML", name);
                        return -ENODEV;
                }
                *ret = t;
                return 0;
        case DOMAIN_VIA_SERIAL:
                if (!d.channel) {
                        say(err, errlen, "%s: no channel '%s' (run: ferry setup%s --domain %s --serial%s)", name,
                            channel, hint, name, chopt);
                        return -ENODEV;
                }
                return channel_target(&d, name, channel, ret, err, errlen);
        case DOMAIN_VIA_AUTO:
                break;
        }
        bool reach = d.vsock && d.cid && vsock_reachable();
        if (reach) {
                *ret = t;
                return 0;
        }
        if (d.channel)
                return channel_target(&d, name, channel, ret, err, errlen);
        if (!d.vsock)
                say(err, errlen, "%s: no vsock device and no channel '%s' (run: ferry setup%s --domain %s%s)", name,
                    channel, hint, name, chopt);
        else if (!d.cid)
                say(err, errlen, "%s: its vsock device has no CID in the live XML, and no channel '%s' "
                                 "(run: ferry setup%s --domain %s --serial%s)", name, channel, hint, name, chopt);
        else
                say(err, errlen, "%s: has a vsock device (CID %u) but this host cannot reach AF_VSOCK "
                                 "(no /dev/vhost-vsock), and no channel '%s' (run: ferry setup%s --domain %s --serial%s)",
                    name, d.cid, channel, hint, name, chopt);
        return -ENODEV;
}

/* ---- ferry setup */

static const char controller_xml[] = "<controller type='virtio-serial'/>";
static const char vsock_xml[] = "<vsock model='virtio'>\n  <cid auto='yes'/>\n</vsock>";

static int attach(virDomainPtr dom, const char *name, const char *what, const char *xml, unsigned flags, FILE *out,
                  char *err, size_t errlen) {
        if (virt.virDomainAttachDeviceFlags(dom, xml, flags) < 0) {
                say(err, errlen, "%s: cannot add %s: %s", name, what, virt_error());
                return -EIO;
        }
        fprintf(out, "%s: added %s (%s)\n", name, what,
                flags == (VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG) ? "to the running domain and its configuration"
                : flags == VIR_DOMAIN_AFFECT_LIVE                            ? "to the running domain only: it is transient"
                                                                             : "to its configuration: from the next start");
        return 0;
}

/* bit 0 (the running domain), bit 1 (its configuration) to libvirt's flags */
static unsigned affect(unsigned where) {
        return (where & 1 ? VIR_DOMAIN_AFFECT_LIVE : 0) | (where & 2 ? VIR_DOMAIN_AFFECT_CONFIG : 0);
}

int domain_setup(struct domain_conn *c, const char *name, const struct domain_opts *o, bool apply, FILE *out,
                 char *err, size_t errlen) {
        const char *channel = o->channel ? o->channel : DOMAIN_CHANNEL;
        _cleanup_(conn_closep) virConnectPtr conn = NULL;
        _cleanup_(dom_freep) virDomainPtr dom = NULL;
        int r;
        if ((r = conn_get(c, false, &conn, err, errlen)) < 0 || (r = lookup(c, conn, name, &dom, err, errlen)) < 0)
                return r;
        int active = virt.virDomainIsActive(dom), persistent = virt.virDomainIsPersistent(dom);
        if (active < 0 || persistent < 0) {
                say(err, errlen, "%s: libvirt: %s", name, virt_error());
                return -EIO;
        }
        /* What the running domain has, and what its configuration has:
         * each gets what it lacks. */
        struct devices live = {}, conf = {};
        _cleanup_free_ char *xml = get_xml(dom, 0, name, err, errlen);
        if (!xml)
                return -EIO;
        if ((r = read_devices(xml, channel, active ? &live : &conf)) < 0) {
                say(err, errlen, "%s: cannot read the devices in its XML (%s)", name, strerror(-r));
                return r;
        }
        if (active && persistent) {
                _cleanup_free_ char *cxml = get_xml(dom, VIR_DOMAIN_XML_INACTIVE, name, err, errlen);
                if (!cxml)
                        return -EIO;
                if ((r = read_devices(cxml, channel, &conf)) < 0) {
                        say(err, errlen, "%s: cannot read the devices in its XML (%s)", name, strerror(-r));
                        return r;
                }
        }
        bool vsock = o->via == DOMAIN_VIA_VSOCK || (o->via == DOMAIN_VIA_AUTO && vsock_reachable());
        char chan_xml[512];
        snprintf(chan_xml, sizeof chan_xml,
                 "<channel type='unix'>\n  <source mode='bind'/>\n  <target type='virtio' name='%s'/>\n</channel>",
                 channel);
        /* what is missing where: bit 0 live, bit 1 config */
        unsigned need_ctl = 0, need_dev = 0;
        const struct devices *have[2] = { active ? &live : NULL, persistent ? &conf : NULL };
        for (int i = 0; i < 2; i++) {
                if (!have[i])
                        continue;
                if (vsock ? !have[i]->vsock : !have[i]->channel)
                        need_dev |= 1u << i;
                if (!vsock && !have[i]->controller && !have[i]->channel)
                        need_ctl |= 1u << i;
        }

        const char *what = vsock ? "a vsock device" : "a virtio channel";
        if (!vsock && o->via == DOMAIN_VIA_AUTO && (live.vsock || conf.vsock))
                fprintf(out, "# %s has a vsock device, but this host cannot reach AF_VSOCK (no /dev/vhost-vsock)\n",
                        name);
        fprintf(out, "# %s: ferry reaches ferryd through %s%s%s%s. In <devices>:\n", name, what,
                vsock ? "" : " named '", vsock ? "" : channel, vsock ? "" : "'");
        if (need_ctl)
                fprintf(out, "%s\n", controller_xml);
        fprintf(out, "%s\n", vsock ? vsock_xml : chan_xml);
        if (vsock)
                fprintf(out, "# in the guest: ferryd --listen vsock::%u --root DIR\n",
                        o->port ? o->port : DOMAIN_VSOCK_PORT);
        else
                fprintf(out, "# in the guest: ferryd --listen serial:/dev/virtio-ports/%s --root DIR\n", channel);
        if (!need_dev) {
                fprintf(out, "%s: has %s already; nothing to add\n", name, what);
                return 0;
        }
        if (!apply) {
                fprintf(out, "# to add it: ferry setup%s%s --domain %s%s --apply\n", c->explicit_uri ? " -c " : "",
                        c->explicit_uri ? c->uri : "", name, vsock ? " --vsock" : " --serial");
                return 0;
        }
        if (!c->read_write) {
                say(err, errlen, "%s: the libvirt connection is read-only", name);
                return -EPERM;
        }
        if (need_ctl && (r = attach(dom, name, "a virtio-serial controller", controller_xml, affect(need_ctl), out,
                                    err, errlen)) < 0)
                return r;
        return attach(dom, name, vsock ? "a vsock device" : "the channel", vsock ? vsock_xml : chan_xml,
                      affect(need_dev), out, err, errlen);
}

#endif
