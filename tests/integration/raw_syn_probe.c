/* From inside a container on a bridge: send a TCP SYN to 127.0.0.1:PORT through eth0 to the gateway's
 * MAC (AF_PACKET, CAP_NET_RAW), and report whether a SYN-ACK from 127.0.0.1:PORT comes back. */
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static unsigned short csum(const void *data, int len, unsigned long sum) {
    const unsigned short *p = data;
    for (; len > 1; len -= 2) sum += *p++;
    if (len) sum += *(const unsigned char *)p;
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return (unsigned short)~sum;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: raw PORT GW_MAC SRC_IP\n"); return 2; }
    int port = atoi(argv[1]);
    unsigned char gw[6];
    sscanf(argv[2], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &gw[0], &gw[1], &gw[2], &gw[3], &gw[4], &gw[5]);
    int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_IP));
    if (s < 0) { perror("socket"); return 3; }
    struct ifreq ifr; memset(&ifr, 0, sizeof ifr); strcpy(ifr.ifr_name, "eth0");
    if (ioctl(s, SIOCGIFINDEX, &ifr) < 0) { perror("ifindex"); return 3; }
    int idx = ifr.ifr_ifindex;
    if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0) { perror("hwaddr"); return 3; }
    unsigned char pkt[64]; memset(pkt, 0, sizeof pkt);
    struct ether_header *eh = (void *)pkt;
    memcpy(eh->ether_dhost, gw, 6); memcpy(eh->ether_shost, ifr.ifr_hwaddr.sa_data, 6);
    eh->ether_type = htons(ETH_P_IP);
    struct iphdr *ip = (void *)(pkt + 14);
    ip->version = 4; ip->ihl = 5; ip->ttl = 64; ip->protocol = IPPROTO_TCP;
    ip->tot_len = htons(40); ip->saddr = inet_addr(argv[3]); ip->daddr = inet_addr("127.0.0.1");
    ip->check = csum(ip, 20, 0);
    struct tcphdr *th = (void *)(pkt + 34);
    th->source = htons(40001); th->dest = htons(port); th->seq = htonl(12345); th->doff = 5; th->syn = 1;
    th->window = htons(65535);
    struct { unsigned int s, d; unsigned char z, p; unsigned short l; } ph = {ip->saddr, ip->daddr, 0, 6, htons(20)};
    unsigned long sum = 0; const unsigned short *q = (void *)&ph;
    for (int i = 0; i < 6; i++) sum += q[i];
    th->check = csum(th, 20, sum);
    struct sockaddr_ll to; memset(&to, 0, sizeof to);
    to.sll_family = AF_PACKET; to.sll_ifindex = idx; to.sll_halen = 6; memcpy(to.sll_addr, gw, 6);
    if (sendto(s, pkt, 54, 0, (void *)&to, sizeof to) < 0) { perror("sendto"); return 3; }
    struct timeval tv = {2, 0}; setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    unsigned char buf[2048];
    for (;;) {
        ssize_t n = recv(s, buf, sizeof buf, 0);
        if (n < 0) { printf("no-answer\n"); return 0; }
        if (n < 54) continue;
        struct iphdr *rip = (void *)(buf + 14);
        if (rip->protocol != IPPROTO_TCP || rip->saddr != inet_addr("127.0.0.1")) continue;
        struct tcphdr *rt = (void *)(buf + 14 + rip->ihl * 4);
        if (ntohs(rt->source) != port) continue;
        printf(rt->syn && rt->ack ? "SYN-ACK\n" : (rt->rst ? "RST\n" : "other\n"));
        return 0;
    }
}
