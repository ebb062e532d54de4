/* SPDX-License-Identifier: MIT */
/* The names tests print for cmm.h's notification kinds and reply codes:
 * the constant without its CMM_ prefix ("MASTER_ELECTED", "ESRCH"). */
#pragma once

#include "cmm.h"

namespace gs::test {

inline const char *cmmChangeName(cmm_cmchanges_t change)
{
    switch (change) {
    case CMM_MASTER_ELECTED:
        return "MASTER_ELECTED";
    case CMM_MASTER_DEMOTED:
        return "MASTER_DEMOTED";
    case CMM_VICEMASTER_ELECTED:
        return "VICEMASTER_ELECTED";
    case CMM_VICEMASTER_DEMOTED:
        return "VICEMASTER_DEMOTED";
    case CMM_MEMBER_JOINED:
        return "MEMBER_JOINED";
    case CMM_MEMBER_LEFT:
        return "MEMBER_LEFT";
    case CMM_STALE_CLUSTER:
        return "STALE_CLUSTER";
    case CMM_INVALID_CLUSTER:
        return "INVALID_CLUSTER";
    case CMM_VALID_CLUSTER:
        return "VALID_CLUSTER";
    case CMM_NODE_ELIGIBLE:
        return "NODE_ELIGIBLE";
    case CMM_NODE_INELIGIBLE:
        return "NODE_INELIGIBLE";
    }
    return "?";
}

inline const char *cmmRcName(cmm_error_t rc)
{
    switch (rc) {
    case CMM_OK:
        return "OK";
    case CMM_EBADF:
        return "EBADF";
    case CMM_EBUSY:
        return "EBUSY";
    case CMM_ECANCELED:
        return "ECANCELED";
    case CMM_EEXIST:
        return "EEXIST";
    case CMM_EINVAL:
        return "EINVAL";
    case CMM_ENOENT:
        return "ENOENT";
    case CMM_ENOMSG:
        return "ENOMSG";
    case CMM_ENOTSUP:
        return "ENOTSUP";
    case CMM_EPERM:
        return "EPERM";
    case CMM_ERANGE:
        return "ERANGE";
    case CMM_ESRCH:
        return "ESRCH";
    case CMM_ENOCLUSTER:
        return "ENOCLUSTER";
    case CMM_ECONN:
        return "ECONN";
    case CMM_ETIMEDOUT:
        return "ETIMEDOUT";
    case CMM_EAGAIN:
        return "EAGAIN";
    case CMM_ENOMEM:
        return "ENOMEM";
    case CMM_EOTHER:
        return "EOTHER";
    }
    return "?";
}

} // namespace gs::test
