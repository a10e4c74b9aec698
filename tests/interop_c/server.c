/* A C node server: published in EPMD, it answers net_adm:ping, rex calls
 * (gen_server calls and ei_rpc's classic form) and messages to `inbox`.
 * Usage: server ALIVE HOST COOKIE. Prints one line per event. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <ei.h>

#define MAXCONN 16

static ei_cnode ec;
static char me[512];

static void say(const char *fmt, const char *arg) {
    printf(fmt, arg);
    printf("\n");
    fflush(stdout);
}

static void send_to(int fd, erlang_pid *to, ei_x_buff *x) {
    if (ei_send(fd, to, x->buff, x->index) < 0) say("SEND_FAILED %s", to->node);
}

/* Decodes `{'$gen_call', {From, Tag}, ` and leaves idx at the request. */
static int gen_call(const char *buf, int *idx, erlang_pid *from, int *tag, int *tag_end) {
    int arity;
    char atom[MAXATOMLEN_UTF8];
    if (ei_decode_tuple_header(buf, idx, &arity) < 0 || arity != 3) return -1;
    if (ei_decode_atom(buf, idx, atom) < 0 || strcmp(atom, "$gen_call") != 0) return -1;
    if (ei_decode_tuple_header(buf, idx, &arity) < 0 || arity != 2) return -1;
    if (ei_decode_pid(buf, idx, from) < 0) return -1;
    *tag = *idx;
    if (ei_skip_term(buf, idx) < 0) return -1;
    *tag_end = *idx;
    return 0;
}

/* net_kernel: `{is_auth, _}` answered `{Tag, yes}`. */
static void net_kernel(int fd, const char *buf, int idx) {
    erlang_pid from;
    int tag, tag_end;
    if (gen_call(buf, &idx, &from, &tag, &tag_end) < 0) return;
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_append_buf(&x, buf + tag, tag_end - tag);
    ei_x_encode_atom(&x, "yes");
    send_to(fd, &from, &x);
    ei_x_free(&x);
    say("PINGED %s", from.node);
}

/* rex: `{call, M, F, A, GL}` as a gen_server call (answered `{Tag, Reply}`)
 * or as ei_rpc's `{From, {call, ...}}` (answered `{rex, Reply}`). Reply is
 * node() for erlang:node/0 and `{M, F, A}` for anything else. */
static void rex(int fd, const char *buf, int idx) {
    erlang_pid from;
    int tag = -1, tag_end = -1, arity, start = idx;
    char atom[MAXATOMLEN_UTF8], mod[MAXATOMLEN_UTF8], fun[MAXATOMLEN_UTF8];
    if (gen_call(buf, &idx, &from, &tag, &tag_end) < 0) {
        tag = -1;
        idx = start;
        if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 2) return;
        if (ei_decode_pid(buf, &idx, &from) < 0) return;
    }
    if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 5) return;
    if (ei_decode_atom(buf, &idx, atom) < 0 || strcmp(atom, "call") != 0) return;
    if (ei_decode_atom(buf, &idx, mod) < 0 || ei_decode_atom(buf, &idx, fun) < 0) return;
    int args = idx;
    if (ei_skip_term(buf, &idx) < 0) return;
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 2);
    if (tag >= 0)
        ei_x_append_buf(&x, buf + tag, tag_end - tag);
    else
        ei_x_encode_atom(&x, "rex");
    if (strcmp(mod, "erlang") == 0 && strcmp(fun, "node") == 0) {
        ei_x_encode_atom(&x, me);
    } else {
        ei_x_encode_tuple_header(&x, 3);
        ei_x_encode_atom(&x, mod);
        ei_x_encode_atom(&x, fun);
        ei_x_append_buf(&x, buf + args, idx - args);
    }
    send_to(fd, &from, &x);
    ei_x_free(&x);
    say(tag >= 0 ? "RPC gen_call %s" : "RPC classic %s", fun);
}

/* inbox: prints every message's size and text (`?` where ei cannot print
 * it); `{From, Term}` is answered `{c_node_got, Term}`. */
static void inbox(int fd, const char *buf, int idx) {
    char *text = NULL;
    int p = idx, end = idx, arity;
    erlang_pid from;
    if (ei_skip_term(buf, &end) < 0) return;
    int printed = ei_s_print_term(&text, buf, &p);
    printf("GOT %d %s\n", end - idx, printed >= 0 && text ? text : "?");
    fflush(stdout);
    free(text);
    if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 2) return;
    if (ei_decode_pid(buf, &idx, &from) < 0) return;
    int term = idx;
    if (ei_skip_term(buf, &idx) < 0) return;
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "c_node_got");
    ei_x_append_buf(&x, buf + term, idx - term);
    send_to(fd, &from, &x);
    ei_x_free(&x);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: server ALIVE HOST COOKIE\n");
        return 2;
    }
    snprintf(me, sizeof me, "%s@%s", argv[1], argv[2]);
    if (ei_init() != 0) return 1;
    if (ei_connect_xinit(&ec, argv[2], argv[1], me, NULL, argv[3], 0) < 0) return 1;
    int port = 0;
    int lfd = ei_listen(&ec, &port, 5);
    if (lfd < 0) return 1;
    if (ei_publish(&ec, port) < 0) {
        printf("PUBLISH_FAILED erl_errno=%d\n", erl_errno);
        return 1;
    }
    printf("LISTENING %s %d\n", me, port);
    fflush(stdout);
    struct pollfd fds[MAXCONN + 1];
    int n = 1;
    fds[0].fd = lfd;
    fds[0].events = POLLIN;
    for (;;) {
        if (poll(fds, n, -1) < 0) return 1;
        if (fds[0].revents & POLLIN) {
            ErlConnect conn;
            int fd = ei_accept_tmo(&ec, lfd, &conn, 5000);
            if (fd < 0) {
                say("REFUSED %s", "");
            } else if (n > MAXCONN) {
                close(fd);
            } else {
                fds[n].fd = fd;
                fds[n].events = POLLIN;
                fds[n].revents = 0;
                n++;
                say("ACCEPTED %s", conn.nodename);
            }
        }
        for (int i = 1; i < n; i++) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            fds[i].revents = 0;
            erlang_msg msg;
            ei_x_buff x;
            ei_x_new(&x);
            int r = ei_xreceive_msg_tmo(fds[i].fd, &msg, &x, 5000);
            if (r == ERL_MSG && msg.msgtype == ERL_REG_SEND) {
                int idx = 0, version;
                ei_decode_version(x.buff, &idx, &version);
                if (strcmp(msg.toname, "net_kernel") == 0)
                    net_kernel(fds[i].fd, x.buff, idx);
                else if (strcmp(msg.toname, "rex") == 0)
                    rex(fds[i].fd, x.buff, idx);
                else if (strcmp(msg.toname, "inbox") == 0)
                    inbox(fds[i].fd, x.buff, idx);
                else
                    say("UNKNOWN_NAME %s", msg.toname);
            } else if (r == ERL_MSG) {
                printf("CONTROL %ld\n", msg.msgtype);
                fflush(stdout);
            } else if (r == ERL_ERROR && erl_errno != ETIMEDOUT) {
                close(fds[i].fd);
                fds[i] = fds[n - 1];
                n--;
                i--;
                say("CLOSED %s", "");
            }
            ei_x_free(&x);
        }
    }
}
