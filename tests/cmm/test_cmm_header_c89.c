/* SPDX-License-Identifier: MIT */
/*
 * cmm.h from a strict C89 program: every numeric value Netra programs may
 * have compiled in, the cmm_member_t field order, and the deprecated macros.
 * Built with -std=c89 -pedantic and warnings as errors; the checks are
 * compile-time, so building is the test. No library function is called: this
 * test needs only the header.
 */
#include <cmm.h>

#include <stddef.h>

/* A negative array size stops the build when a check fails. */
#define CHECK(name, cond) typedef char check_##name[(cond) ? 1 : -1]

CHECK(ok, CMM_OK == 0);
CHECK(ebadf, CMM_EBADF == -100);
CHECK(ebusy, CMM_EBUSY == -99);
CHECK(ecanceled, CMM_ECANCELED == -98);
CHECK(eexist, CMM_EEXIST == -97);
CHECK(einval, CMM_EINVAL == -96);
CHECK(enoent, CMM_ENOENT == -95);
CHECK(enomsg, CMM_ENOMSG == -94);
CHECK(enotsup, CMM_ENOTSUP == -93);
CHECK(eperm, CMM_EPERM == -92);
CHECK(erange, CMM_ERANGE == -91);
CHECK(esrch, CMM_ESRCH == -90);
CHECK(enocluster, CMM_ENOCLUSTER == -89);
CHECK(econn, CMM_ECONN == -88);
CHECK(etimedout, CMM_ETIMEDOUT == -87);
CHECK(eagain, CMM_EAGAIN == -86);
CHECK(enomem, CMM_ENOMEM == -85);
CHECK(eother, CMM_EOTHER == -84);

CHECK(master, CMM_MASTER == 0x0001);
CHECK(vicemaster, CMM_VICEMASTER == 0x0002);
CHECK(out, CMM_OUT_OF_CLUSTER == 0x0004);
CHECK(rolemask, CMM_ROLE_MASK == 0x0007);
CHECK(frozen, CMM_FROZEN_MEMBER == 0x0100);
CHECK(excluded, CMM_EXCLUDED_MEMBER == 0x0200);
CHECK(eligible, CMM_ELIGIBLE_MEMBER == 0x0400);
CHECK(disqualified, CMM_FLAG_DISQUALIFIED == 0x0800);
CHECK(synchro, CMM_FLAG_SYNCHRO_NEEDED == 0x1000);

CHECK(q_qualified, CMM_QUALIFIED_MEMBER == -150);
CHECK(q_ready, CMM_SYNCHRO_READY == -149);
CHECK(q_disqualified, CMM_DISQUALIFIED_MEMBER == -148);
CHECK(q_needed, CMM_SYNCHRO_NEEDED == -147);

CHECK(f_add, CMM_CMC_NOTIFY_ADD == 20);
CHECK(f_rem, CMM_CMC_NOTIFY_REM == 21);
CHECK(f_set, CMM_CMC_NOTIFY_SET == 22);
CHECK(f_all, CMM_CMC_NOTIFY_ALL == 23);
CHECK(f_none, CMM_CMC_NOTIFY_NONE == 24);

CHECK(n_master_elected, CMM_MASTER_ELECTED == 250);
CHECK(n_master_demoted, CMM_MASTER_DEMOTED == 251);
CHECK(n_vice_elected, CMM_VICEMASTER_ELECTED == 252);
CHECK(n_vice_demoted, CMM_VICEMASTER_DEMOTED == 253);
CHECK(n_joined, CMM_MEMBER_JOINED == 254);
CHECK(n_left, CMM_MEMBER_LEFT == 255);
CHECK(n_stale, CMM_STALE_CLUSTER == 256);
CHECK(n_invalid, CMM_INVALID_CLUSTER == 257);
CHECK(n_valid, CMM_VALID_CLUSTER == 258);
CHECK(n_eligible, CMM_NODE_ELIGIBLE == 259);
CHECK(n_ineligible, CMM_NODE_INELIGIBLE == 260);

CHECK(name_size, CMM_MAX_NAME_SIZE == 256 && sizeof(cmm_membername_t) == 256);
CHECK(addr_size, CMM_MAX_ADDR_SIZE == 64 && sizeof(cmm_memberaddr_t) == 64);
CHECK(swload_size, CMM_MAX_SWLOADID_SIZE == 32 && sizeof(cmm_swload_t) == 32);
CHECK(table_size, CMM_MAX_MEMBER_TABLE_SIZE == 1024);
CHECK(invalid_node, CMM_INVALID_NODE_ID == (cmm_nodeid_t)-1);
CHECK(no_node, CMM_NO_NODE == 0 && CMM_NO_DOMAIN == 0);
CHECK(nodeid_width,
      sizeof(cmm_nodeid_t) == 4 && sizeof(cmm_incarn_t) == 4 && sizeof(cmm_domainid_t) == 4);

/* Field order of cmm_member_t, as in Sun's header. */
CHECK(order1, offsetof(cmm_member_t, nodeid) == 0);
CHECK(order2, offsetof(cmm_member_t, name) > offsetof(cmm_member_t, nodeid));
CHECK(order3, offsetof(cmm_member_t, addr) > offsetof(cmm_member_t, name));
CHECK(order4, offsetof(cmm_member_t, domainid) > offsetof(cmm_member_t, addr));
CHECK(order5, offsetof(cmm_member_t, sflag) > offsetof(cmm_member_t, domainid));
CHECK(order6, offsetof(cmm_member_t, incarnation_number) > offsetof(cmm_member_t, sflag));
CHECK(order7,
      offsetof(cmm_member_t, software_load_id) > offsetof(cmm_member_t, incarnation_number));

CHECK(notification, offsetof(cmm_cmc_notification_t, nodeid) > 0);

/* The callback type accepts a function of the documented shape. */
static void callback(const cmm_cmc_notification_t *change, void *data)
{
    (void)change;
    (void)data;
}

int main(void)
{
    cmm_member_t member;
    timespec_t timeout;
    cmm_notify_t notify = callback;
    cmm_qualif_t qualif = CMM_QUALIFIED_MEMBER;
    cmm_cmcfilter_t action = CMM_CMC_NOTIFY_ALL;
    cmm_cmchanges_t change = CMM_MEMBER_JOINED;
    cmm_error_t rc = CMM_OK;

    /* struct timespec is complete even in strict C89 (see cmm.h). */
    timeout.tv_sec = CMM_DEFAULT_TIMEOUT_SEC;
    timeout.tv_nsec = 0;
    member.sflag = CMM_MASTER | CMM_ELIGIBLE_MEMBER;

    /* The deprecated macros take an lvalue; sizeof does not evaluate, so no
     * library is needed to check that they expand to int expressions. */
    (void)sizeof(CMM_IS_FROZEN(member) + CMM_IS_EXCLUDED(member) + CMM_IS_ELIGIBLE(member) +
                 CMM_IS_MASTER(member) + CMM_IS_VICEMASTER(member) + CMM_IS_QUALIFIED(member) +
                 CMM_IS_DISQUALIFIED(member) + CMM_IS_SEMI_QUALIFIED(member) +
                 CMM_IS_OUT_OF_CLUSTER(member));
    (void)sizeof(cmm_connect(timeout));
    (void)sizeof(cmm_cmc_filter(action, &change, 1));
    (void)sizeof(cmm_member_setqualif(CMM_NO_NODE, qualif));
    (void)sizeof(cmm_strerror(rc));
    (void)notify;

    return member.sflag == (CMM_MASTER | CMM_ELIGIBLE_MEMBER) && timeout.tv_sec == 5 ? 0 : 1;
}
