/* SPDX-License-Identifier: MIT */
#include "harness.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <set>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace api {

/* ======================================================================== */
/*  Names                                                                   */
/* ======================================================================== */

std::string rcName(int rc)
{
    switch (rc) {
#define API_RC(x)                                                                                  \
    case x:                                                                                        \
        return #x;
        API_RC(HA_GS_OK)
        API_RC(HA_GS_NOT_OK)
        API_RC(HA_GS_EXISTS)
        API_RC(HA_GS_NO_INIT)
        API_RC(HA_GS_NAME_TOO_LONG)
        API_RC(HA_GS_NO_MEMORY)
        API_RC(HA_GS_NOT_A_MEMBER)
        API_RC(HA_GS_BAD_CLIENT_TOKEN)
        API_RC(HA_GS_BAD_MEMBER_TOKEN)
        API_RC(HA_GS_BAD_PARAMETER)
        API_RC(HA_GS_UNKNOWN_GROUP)
        API_RC(HA_GS_INVALID_GROUP)
        API_RC(HA_GS_NO_SOURCE_GROUP_PROVIDER)
        API_RC(HA_GS_BAD_GROUP_ATTRIBUTES)
        API_RC(HA_GS_WRONG_OLD_STATE)
        API_RC(HA_GS_DUPLICATE_INSTANCE_NUMBER)
        API_RC(HA_GS_COLLIDE)
        API_RC(HA_GS_SOCK_CREATE_FAILED)
        API_RC(HA_GS_SOCK_INIT_FAILED)
        API_RC(HA_GS_CONNECT_FAILED)
        API_RC(HA_GS_VOTE_NOT_EXPECTED)
        API_RC(HA_GS_NOT_SUPPORTED)
        API_RC(HA_GS_INVALID_SOURCE_GROUP)
        API_RC(HA_GS_UNKNOWN_PROVIDER)
        API_RC(HA_GS_INVALID_DEACTIVATE_PHASE)
        API_RC(HA_GS_BACKLEVEL_PROVIDERS)
        API_RC(HA_GS_DOMAIN_NOT_RECOG)
        API_RC(HA_GS_TOO_MANY_GROUPS)
        API_RC(HA_GS_NOT_AUTHORIZED)
#undef API_RC
    default:
        return "rc(" + std::to_string(rc) + ")";
    }
}

std::string describeRc(int rc)
{
    const char *text = ha_gs_strerror(static_cast<ha_gs_rc_t>(rc));
    return rcName(rc) + " (" + (text ? text : "<NULL>") + ")";
}

std::string protocolName(int protocol)
{
    switch (protocol) {
    case HA_GS_JOIN:
        return "JOIN";
    case HA_GS_LEAVE:
        return "LEAVE";
    case HA_GS_FAILURE_LEAVE:
        return "FAILURE_LEAVE";
    case HA_GS_EXPEL:
        return "EXPEL";
    case HA_GS_CAST_OUT:
        return "CAST_OUT";
    case HA_GS_STATE_VALUE_CHANGE:
        return "STATE_VALUE_CHANGE";
    case HA_GS_PROVIDER_MESSAGE:
        return "PROVIDER_MESSAGE";
    case HA_GS_GROUP_ATTRIBUTE_CHANGE:
        return "GROUP_ATTRIBUTE_CHANGE";
    case HA_GS_SOURCE_STATE_REFLECTION:
        return "SOURCE_STATE_REFLECTION";
    case HA_GS_MERGE:
        return "MERGE";
    case HA_GS_SUBSCRIPTION:
        return "SUBSCRIPTION";
    default:
        return "proto(" + std::to_string(protocol) + ")";
    }
}

namespace {

std::string flagNames(unsigned value, const std::vector<std::pair<unsigned, const char *>> &table)
{
    if (value == 0)
        return "0";
    std::string out;
    for (const auto &[bit, name] : table) {
        if (value & bit) {
            if (!out.empty())
                out += '|';
            out += name;
            value &= ~bit;
        }
    }
    if (value != 0) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "0x%x", value);
        if (!out.empty())
            out += '|';
        out += buf;
    }
    return out;
}

std::string escape(const char *data, size_t length)
{
    std::string out;
    for (size_t i = 0; i < length; ++i) {
        const unsigned char c = static_cast<unsigned char>(data[i]);
        if (c > 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out += static_cast<char>(c);
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        }
    }
    return out;
}

std::string leaveReasonName(int reason)
{
    switch (reason) {
    case HA_GS_PROVIDER_LEFT:
        return "LEFT";
    case HA_GS_PROVIDER_FAILED_LEAVE:
        return "FAILED_LEAVE";
    case HA_GS_PROVIDER_SAID_GOODBYE:
        return "SAID_GOODBYE";
    case HA_GS_PROVIDER_EXPELLED:
        return "EXPELLED";
    case HA_GS_PROVIDER_CAST_OUT:
        return "CAST_OUT";
    default:
        return "reason(" + std::to_string(reason) + ")";
    }
}

std::string phasesName(int phases)
{
    if (phases == HA_GS_1_PHASE)
        return "1";
    if (phases == HA_GS_N_PHASE)
        return "N";
    return "?" + std::to_string(phases);
}

std::string providerName(const ha_gs_provider_t &p)
{
    return std::to_string(p.gs_instance_number) + "." + std::to_string(p.gs_node_number);
}

} // namespace

std::string summaryNames(unsigned summary)
{
    static const std::vector<std::pair<unsigned, const char *>> table = {
        {HA_GS_EXPLICIT_APPROVE, "EXPLICIT_APPROVE"},
        {HA_GS_EXPLICIT_REJECT, "EXPLICIT_REJECT"},
        {HA_GS_DEFAULT_APPROVE, "DEFAULT_APPROVE"},
        {HA_GS_DEFAULT_REJECT, "DEFAULT_REJECT"},
        {HA_GS_TIME_LIMIT_EXCEEDED, "TIME_LIMIT_EXCEEDED"},
        {HA_GS_PROVIDER_FAILED, "PROVIDER_FAILED"},
        {HA_GS_RESPONSIVENESS_NO_RESPONSE, "RESPONSIVENESS_NO_RESPONSE"},
        {HA_GS_RESPONSIVENESS_RESPONSE, "RESPONSIVENESS_RESPONSE"},
        {HA_GS_DEACTIVATE_SUCCESSFUL, "DEACTIVATE_SUCCESSFUL"},
        {HA_GS_DEACTIVATE_UNSUCCESSFUL, "DEACTIVATE_UNSUCCESSFUL"},
        {HA_GS_DEACTIVATE_TIME_LIMIT_EXCEEDED, "DEACTIVATE_TIME_LIMIT_EXCEEDED"},
        {HA_GS_GROUP_DISSOLVED, "GROUP_DISSOLVED"},
    };
    return flagNames(summary, table);
}

std::string subscriptionNames(unsigned type)
{
    static const std::vector<std::pair<unsigned, const char *>> table = {
        {HA_GS_SUBSCRIPTION_STATE, "STATE"},
        {HA_GS_SUBSCRIPTION_DELTA_JOIN, "DELTA_JOIN"},
        {HA_GS_SUBSCRIPTION_DELTA_LEAVE, "DELTA_LEAVE"},
        {HA_GS_SUBSCRIPTION_MEMBERSHIP, "MEMBERSHIP"},
        {HA_GS_SUBSCRIPTION_SPECIAL_DATA, "SPECIAL_DATA"},
        {HA_GS_SUBSCRIPTION_DISSOLVED, "DISSOLVED"},
        {HA_GS_SUBSCRIPTION_GS_HAS_DIED, "GS_HAS_DIED"},
    };
    return flagNames(type, table);
}

namespace {
/* "valuelimit N" in an agent: values longer than N bytes are shown as
 * their first N bytes and their length. */
std::optional<unsigned> valueTextLimit;
} // namespace

std::string formatValue(const char *data, unsigned length)
{
    if (!data)
        return length == 0 ? "\"\"" : "<null:" + std::to_string(length) + ">";
    if (valueTextLimit && length > *valueTextLimit)
        return "\"" + escape(data, *valueTextLimit) + "\"~" + std::to_string(length);
    return "\"" + escape(data, length) + "\"";
}

namespace {

std::string formatState(const ha_gs_state_value_t *v)
{
    return v ? formatValue(v->gs_state, v->gs_length) : "-";
}

std::string formatMessage(const ha_gs_provider_message_t *m)
{
    return m ? formatValue(m->gs_message, m->gs_length) : "-";
}

std::string formatAttributes(const ha_gs_group_attributes_t *a)
{
    if (!a)
        return "-";
    std::ostringstream os;
    os << "v" << a->gs_version << "/size" << a->gs_sizeof_group_attributes << "/cv"
       << a->gs_client_version << "/batch" << a->gs_batch_control << "/phases" << a->gs_num_phases
       << "/sphases" << a->gs_source_reflection_num_phases << "/default" << a->gs_group_default_vote
       << "/merge" << a->gs_merge_control << "/tl" << a->gs_time_limit << "/stl"
       << a->gs_source_reflection_time_limit << "/name:"
       << (a->gs_group_name ? escape(a->gs_group_name, std::strlen(a->gs_group_name)) : "-")
       << "/source:"
       << (a->gs_source_group_name
               ? escape(a->gs_source_group_name, std::strlen(a->gs_source_group_name))
               : "-");
    return os.str();
}

} // namespace

std::string formatMembers(const ha_gs_membership_t *members)
{
    if (!members)
        return "-";
    if (members->gs_count > 0 && !members->gs_providers)
        return "[<null:" + std::to_string(members->gs_count) + ">]";
    std::string out = "[";
    for (unsigned i = 0; i < members->gs_count; ++i) {
        if (i)
            out += ',';
        out += providerName(members->gs_providers[i]);
    }
    return out + "]";
}

std::string formatProposal(const ha_gs_proposal_t *p)
{
    if (!p)
        return "proposal=-";
    std::string out = "phase=" + std::to_string(p->gs_phase_info.gs_phase_number) + "/" +
                      phasesName(p->gs_phase_info.gs_num_phases);
    out += " cur=" + formatMembers(p->gs_current_providers);
    out += " chg=" + formatMembers(p->gs_changing_providers);
    out += " old=" + formatState(p->gs_old_state_value);
    out += " prop=" + formatState(p->gs_proposed_state_value);
    out += " msg=" + formatMessage(p->gs_provider_message);
    out += " leave=";
    if (!p->gs_leave_info) {
        out += "-";
    } else if (!p->gs_changing_providers) {
        out += "[?]";
    } else {
        out += "[";
        for (unsigned i = 0; i < p->gs_changing_providers->gs_count; ++i) {
            if (i)
                out += ',';
            const ha_gs_provider_t *who = p->gs_changing_providers->gs_providers;
            out += (who ? providerName(who[i]) : std::string("?")) + ":" +
                   leaveReasonName(p->gs_leave_info[i].gs_leave_reason) + ":" +
                   std::to_string(p->gs_leave_info[i].gs_leave_code);
        }
        out += "]";
    }
    if (p->gs_expel_info) {
        const char *flag = p->gs_expel_info->gs_deactivate_flag;
        out += " expel=" + std::to_string(p->gs_expel_info->gs_deactivate_phase) + ":" +
               (flag ? formatValue(flag, static_cast<unsigned>(std::strlen(flag))) : "-");
    }
    if (p->gs_proposed_group_attributes)
        out += " attrs=" + formatAttributes(p->gs_proposed_group_attributes);
    if (p->gs_source_state_value)
        out += " src=" + formatState(p->gs_source_state_value);
    return out;
}

namespace {

std::string typeCheck(int got, int want)
{
    return got == want ? "" : " BADTYPE=" + std::to_string(got);
}

} // namespace

std::string format(const ha_gs_n_phase_notification_t *n)
{
    return "nphase " + protocolName(n->gs_protocol_type) +
           " summary=" + summaryNames(n->gs_summary_code) +
           " tl=" + std::to_string(n->gs_time_limit) + " " + formatProposal(n->gs_proposal) +
           typeCheck(n->gs_notification_type, HA_GS_N_PHASE_NOTIFICATION);
}

std::string format(const ha_gs_approved_notification_t *n)
{
    return "approved " + protocolName(n->gs_protocol_type) +
           " summary=" + summaryNames(n->gs_summary_code) + " " + formatProposal(n->gs_proposal) +
           typeCheck(n->gs_notification_type, HA_GS_APPROVED_NOTIFICATION);
}

std::string format(const ha_gs_rejected_notification_t *n)
{
    return "rejected " + protocolName(n->gs_protocol_type) +
           " summary=" + summaryNames(n->gs_summary_code) + " " + formatProposal(n->gs_proposal) +
           typeCheck(n->gs_notification_type, HA_GS_REJECTED_NOTIFICATION);
}

std::string format(const ha_gs_announcement_notification_t *n)
{
    return "announce summary=" + summaryNames(n->gs_summary_code) +
           " who=" + formatMembers(n->gs_announcement) +
           typeCheck(n->gs_notification_type, HA_GS_ANNOUNCEMENT_NOTIFICATION);
}

std::string format(const ha_gs_subscription_notification_t *n)
{
    std::string out = "sub type=" + subscriptionNames(n->gs_subscription_type) +
                      " state=" + formatState(n->gs_state_value) +
                      " full=" + formatMembers(n->gs_full_membership) +
                      " chg=" + formatMembers(n->gs_changing_membership);
    if (n->gs_subscription_special_data)
        out += " special=set";
    return out + typeCheck(n->gs_notification_type, HA_GS_SUBSCRIPTION_NOTIFICATION);
}

std::string format(const ha_gs_delayed_error_notification_t *n)
{
    std::string out = "delayed rc=" + rcName(n->gs_delayed_return_code) +
                      " proto=" + protocolName(n->gs_protocol_type);
    const ha_gs_proposal_info_t *req = n->gs_failing_request;
    if (!req) {
        out += " request=-";
    } else if (n->gs_protocol_type == HA_GS_SUBSCRIPTION) {
        const ha_gs_subscribe_request_t &s = req->gs_subscribe_request;
        out += " group=" + (s.gs_subscription_group ? escape(s.gs_subscription_group,
                                                             std::strlen(s.gs_subscription_group))
                                                    : std::string("-"));
        out += " control=" + subscriptionNames(s.gs_subscription_control);
        out += std::string(" cb=") + (s.gs_subscription_callback ? "set" : "null");
    } else {
        out += " request=set";
    }
    return out + typeCheck(n->gs_notification_type, HA_GS_DELAYED_ERROR_NOTIFICATION);
}

std::string format(const ha_gs_merge_notification_t *n)
{
    return "merge summary=" + summaryNames(n->gs_summary_code) +
           typeCheck(n->gs_notification_type, HA_GS_MERGE_NOTIFICATION);
}

std::string format(const ha_gs_responsiveness_notification_t *n)
{
    const ha_gs_responsiveness_t &r = n->gs_responsiveness_information;
    return "responsiveness type=" + std::to_string(r.gs_responsiveness_type) +
           " interval=" + std::to_string(r.gs_responsiveness_interval) +
           " limit=" + std::to_string(r.gs_responsiveness_response_time_limit) +
           typeCheck(n->gs_notification_type, HA_GS_RESPONSIVENESS_NOTIFICATION);
}

/* ======================================================================== */
/*  Parsing                                                                 */
/* ======================================================================== */

std::string field(const std::string &line, const std::string &key)
{
    const std::string needle = key + "=";
    size_t pos = 0;
    while ((pos = line.find(needle, pos)) != std::string::npos) {
        if (pos == 0 || line[pos - 1] == ' ') {
            const size_t start = pos + needle.size();
            const size_t end = line.find(' ', start);
            return line.substr(start, end == std::string::npos ? std::string::npos : end - start);
        }
        pos += needle.size();
    }
    return "";
}

bool hasField(const std::string &line, const std::string &key)
{
    const std::string needle = key + "=";
    size_t pos = 0;
    while ((pos = line.find(needle, pos)) != std::string::npos) {
        if (pos == 0 || line[pos - 1] == ' ')
            return true;
        pos += needle.size();
    }
    return false;
}

bool hasFlag(const std::string &line, const std::string &key, const std::string &flag)
{
    const std::string value = field(line, key);
    size_t start = 0;
    while (start <= value.size()) {
        size_t end = value.find('|', start);
        if (end == std::string::npos)
            end = value.size();
        if (value.compare(start, end - start, flag) == 0)
            return true;
        start = end + 1;
    }
    return false;
}

std::string subSummary(const std::string &line)
{
    const size_t at = line.find(": sub type=");
    if (at == std::string::npos)
        return line;
    std::string out = line.substr(0, at) + ": sub type=" + field(line, "type");
    if (hasFlag(line, "type", "STATE"))
        out += " state=" + field(line, "state");
    if (hasFlag(line, "type", "MEMBERSHIP"))
        out += " full=" + field(line, "full");
    if (hasFlag(line, "type", "DELTA_JOIN") || hasFlag(line, "type", "DELTA_LEAVE"))
        out += " chg=" + field(line, "chg");
    return out;
}

bool Match::operator()(const std::string &line) const
{
    if (line.compare(0, prefix.size(), prefix) != 0)
        return false;
    for (const auto &c : contains) {
        if (line.find(c) == std::string::npos)
            return false;
    }
    return true;
}

std::string Match::text() const
{
    std::string out = "line starting with '" + prefix + "'";
    for (const auto &c : contains)
        out += " containing '" + c + "'";
    return out;
}

/* ======================================================================== */
/*  Utilities                                                               */
/* ======================================================================== */

int64_t monotonicNs()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::string makeTempDir()
{
    std::string templ = "/tmp/gsapi-" + std::string(6, 'X'); /* mkdtemp's pattern */
    if (!mkdtemp(templ.data()))
        throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
    return templ;
}

ScopedEnv::ScopedEnv(std::string name, std::optional<std::string> value) : name_(std::move(name))
{
    if (const char *old = std::getenv(name_.c_str()))
        old_ = old;
    if (value)
        setenv(name_.c_str(), value->c_str(), 1);
    else
        unsetenv(name_.c_str());
}

ScopedEnv::~ScopedEnv()
{
    if (old_)
        setenv(name_.c_str(), old_->c_str(), 1);
    else
        unsetenv(name_.c_str());
}

namespace {

/* Closes every descriptor except those listed (in a freshly forked child). */
void closeFdsExcept(std::initializer_list<int> keep)
{
    std::vector<int> fds;
    if (DIR *d = opendir("/proc/self/fd")) {
        const int self = dirfd(d);
        while (dirent *e = readdir(d)) {
            if (e->d_name[0] == '.')
                continue;
            const int fd = std::atoi(e->d_name);
            if (fd != self)
                fds.push_back(fd);
        }
        closedir(d);
    }
    for (int fd : fds) {
        if (std::find(keep.begin(), keep.end(), fd) == keep.end())
            close(fd);
    }
}

void writeAll(int fd, const std::string &data)
{
    size_t off = 0;
    while (off < data.size()) {
        const ssize_t n = write(fd, data.data() + off, data.size() - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        off += static_cast<size_t>(n);
    }
}

void sleepMs(int ms)
{
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

std::string readFile(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream os;
    os << in.rdbuf();
    return os.str();
}

/* waitpid with a deadline; the raw status, or nullopt. */
std::optional<int> waitPidFor(pid_t pid, int timeoutMs)
{
    const int64_t deadline = monotonicNs() + int64_t{timeoutMs} * 1000000;
    for (;;) {
        int status = 0;
        const pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0 && errno != EINTR)
            return -1;
        if (monotonicNs() >= deadline)
            return std::nullopt;
        sleepMs(2);
    }
}

bool localActive = false;

struct IgnoreSigpipe {
    IgnoreSigpipe() { std::signal(SIGPIPE, SIG_IGN); }
} ignoreSigpipe;

} // namespace

/* ======================================================================== */
/*  PrivateGsd                                                              */
/* ======================================================================== */

std::string gsdPath()
{
    const char *p = std::getenv("GSD_PATH");
    if (!p || !*p)
        throw std::runtime_error("GSD_PATH is not set (run the tests through meson test)");
    return p;
}

namespace {

pid_t spawnGsd(const std::vector<std::string> &args, const std::string &logPath,
               bool worldAccessible, const std::string &envEndpoint = "")
{
    const std::string path = gsdPath();
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid < 0)
        throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        const int fd = open(logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        closeFdsExcept({0, 1, 2});
        if (worldAccessible)
            umask(0);
        if (envEndpoint.empty())
            unsetenv("HA_GS_SOCKET");
        else
            setenv("HA_GS_SOCKET", envEndpoint.c_str(), 1);
        std::signal(SIGPIPE, SIG_DFL);
        std::vector<char *> argv;
        argv.push_back(const_cast<char *>(path.c_str()));
        for (const auto &a : args)
            argv.push_back(const_cast<char *>(a.c_str()));
        argv.push_back(nullptr);
        execv(path.c_str(), argv.data());
        std::fprintf(stderr, "exec %s: %s\n", path.c_str(), std::strerror(errno));
        _exit(127);
    }
    return pid;
}

bool socketAccepts(const std::string &path)
{
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    const bool ok = connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0;
    close(fd);
    return ok;
}

} // namespace

PrivateGsd::PrivateGsd(GsdOptions options) : options_(std::move(options))
{
    dir_ = makeTempDir();
    socketPath_ = dir_ + "/gsd.sock";
    endpoint_ = "ipc://" + socketPath_;
    logPath_ = dir_ + "/gsd.log";
    if (options_.worldAccessible) /* others may reach, not replace, the socket */
        chmod(dir_.c_str(), 0755);
    try {
        start();
    } catch (...) {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            waitPidFor(pid_, 5000);
        }
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
        throw;
    }
}

PrivateGsd::~PrivateGsd()
{
    if (pid_ > 0) {
        ::kill(pid_, SIGTERM);
        if (!waitExit(5000)) {
            ::kill(pid_, SIGKILL);
            waitExit(5000);
        }
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

void PrivateGsd::start()
{
    std::vector<std::string> args = {"--node-number", std::to_string(options_.node)};
    if (!options_.endpointFromEnv) {
        args.push_back("--socket");
        args.push_back(endpoint_);
    }
    args.insert(args.end(), options_.args.begin(), options_.args.end());
    pid_ = spawnGsd(args, logPath_, options_.worldAccessible,
                    options_.endpointFromEnv ? endpoint_ : "");
    const int64_t deadline = monotonicNs() + 10'000'000'000;
    for (;;) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            FAIL("gsd exited during start-up (status " << status << "); its output:\n" << log());
        }
        if (socketAccepts(socketPath_))
            return;
        if (monotonicNs() > deadline)
            FAIL("gsd did not accept connections on " << endpoint_ << " within 10 s; its output:\n"
                                                      << log());
        sleepMs(5);
    }
}

void PrivateGsd::kill(int sig)
{
    if (pid_ > 0)
        ::kill(pid_, sig);
}

std::optional<int> PrivateGsd::waitExit(int timeoutMs)
{
    if (pid_ <= 0)
        return std::nullopt;
    auto st = waitPidFor(pid_, timeoutMs);
    if (st)
        pid_ = -1;
    return st;
}

void PrivateGsd::restart()
{
    if (pid_ > 0) {
        ::kill(pid_, SIGTERM);
        if (!waitExit(5000)) {
            ::kill(pid_, SIGKILL);
            waitExit(5000);
        }
    }
    start();
}

std::string PrivateGsd::log() const
{
    return readFile(logPath_);
}

GsdRun runGsdOnce(const std::vector<std::string> &args, int timeoutMs)
{
    const std::string dir = makeTempDir();
    const std::string logPath = dir + "/out.log";
    GsdRun run;
    const pid_t pid = spawnGsd(args, logPath, false);
    auto st = waitPidFor(pid, timeoutMs);
    if (!st) {
        run.timedOut = true;
        ::kill(pid, SIGKILL);
        st = waitPidFor(pid, 5000);
    }
    run.status = st.value_or(-1);
    run.output = readFile(logPath);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    return run;
}

/* ======================================================================== */
/*  The agent                                                               */
/* ======================================================================== */

namespace {

struct AttrSpec {
    ha_gs_group_attributes_t a{};
    std::string name;
    std::string source;
    bool sourceNull = true;
    bool nameNull = false;
    ha_gs_group_attributes_t get() const
    {
        ha_gs_group_attributes_t out = a;
        out.gs_group_name = nameNull ? nullptr : name.c_str();
        out.gs_source_group_name = sourceNull ? nullptr : source.c_str();
        return out;
    }
};

struct Policy {
    std::vector<ha_gs_vote_value_t> seq;
    std::optional<std::string> state;
    std::optional<std::string> msg;
    ha_gs_vote_value_t def = HA_GS_NULL_VOTE;
};

struct View {
    std::vector<std::string> members;
    std::string state;
    std::string last;
};

struct AgentState {
    std::function<void(const std::string &)> sink;
    int descriptor = -1;
    bool answerPings = true;
    bool reportedPing = false;
    std::map<std::string, int> providers;
    std::map<std::string, int> subscribers;
    std::map<int, std::string> tokenGroup;
    std::map<std::string, AttrSpec> attrs;
    std::map<std::string, Policy> policies;
    std::set<std::string> views;
    std::map<std::string, View> viewState;
    bool held = false; /* "hold": leave notifications unread until "resume" */
    int linesThisDispatch = 0;
    int idleDispatches = 0;
    bool reportedBusy = false;
};

/* The responsiveness counter of "init resp=counter", advanced by a thread
 * while "counter run" is in force (the agent's own loop only wakes for
 * commands and notifications). */
std::atomic<uint64_t> agentCounter{0};
std::atomic<bool> agentCounterRuns{false};
std::thread agentCounterThread;

void stopAgentCounter()
{
    agentCounterRuns = false;
    if (agentCounterThread.joinable())
        agentCounterThread.join();
}

AgentState &agent()
{
    static AgentState a;
    return a;
}

void agentReset()
{
    auto sink = std::move(agent().sink);
    agent() = AgentState{};
    agent().sink = std::move(sink);
}

void emit(const std::string &line)
{
    ++agent().linesThisDispatch;
    if (agent().sink)
        agent().sink(line);
}

std::string groupOf(int token)
{
    auto it = agent().tokenGroup.find(token);
    return it == agent().tokenGroup.end() ? "#" + std::to_string(token) : it->second;
}

void emitView(const std::string &group)
{
    View &v = agent().viewState[group];
    std::string text = "view members=[";
    for (size_t i = 0; i < v.members.size(); ++i)
        text += (i ? "," : "") + v.members[i];
    text += "] state=" + formatValue(v.state.data(), static_cast<unsigned>(v.state.size()));
    if (text != v.last) {
        v.last = text;
        emit(group + ": " + text);
    }
}

std::vector<std::string> memberNames(const ha_gs_membership_t *m)
{
    std::vector<std::string> out;
    if (m && m->gs_providers) {
        for (unsigned i = 0; i < m->gs_count; ++i)
            out.push_back(providerName(m->gs_providers[i]));
    }
    return out;
}

void providerView(const std::string &group, const ha_gs_proposal_t *p)
{
    if (!agent().views.count(group) || !p)
        return;
    View &v = agent().viewState[group];
    /* An approved notification carries the membership in force after it. */
    v.members = memberNames(p->gs_current_providers);
    if (p->gs_old_state_value)
        v.state.assign(p->gs_old_state_value->gs_state ? p->gs_old_state_value->gs_state : "",
                       p->gs_old_state_value->gs_length);
    if (p->gs_proposed_state_value)
        v.state.assign(p->gs_proposed_state_value->gs_state ? p->gs_proposed_state_value->gs_state
                                                            : "",
                       p->gs_proposed_state_value->gs_length);
    emitView(group);
}

ha_gs_vote_value_t parseVote(const std::string &s)
{
    if (s == "approve")
        return HA_GS_VOTE_APPROVE;
    if (s == "continue")
        return HA_GS_VOTE_CONTINUE;
    if (s == "reject")
        return HA_GS_VOTE_REJECT;
    if (s == "null" || s.empty())
        return HA_GS_NULL_VOTE;
    return static_cast<ha_gs_vote_value_t>(std::stoi(s, nullptr, 0));
}

void onNPhase(const ha_gs_n_phase_notification_t *n)
{
    const std::string g = groupOf(n->gs_provider_token);
    emit(g + ": " + format(n));
    auto it = agent().policies.find(g);
    if (it == agent().policies.end() || it->second.seq.empty())
        return;
    const Policy &pol = it->second;
    const unsigned phase = n->gs_proposal ? n->gs_proposal->gs_phase_info.gs_phase_number : 1;
    const size_t idx = std::min<size_t>(phase == 0 ? 0 : phase - 1, pol.seq.size() - 1);
    std::string stateBuf = pol.state.value_or("");
    std::string msgBuf = pol.msg.value_or("");
    ha_gs_state_value_t sv{static_cast<unsigned>(stateBuf.size()), stateBuf.data()};
    ha_gs_provider_message_t mv{static_cast<unsigned>(msgBuf.size()), msgBuf.data()};
    const ha_gs_rc_t rc = ha_gs_vote(n->gs_provider_token, pol.seq[idx], pol.state ? &sv : nullptr,
                                     pol.msg ? &mv : nullptr, pol.def);
    if (rc != HA_GS_OK)
        emit(g + ": autovote-error rc=" + rcName(rc));
}

void onApproved(const ha_gs_approved_notification_t *n)
{
    const std::string g = groupOf(n->gs_provider_token);
    emit(g + ": " + format(n));
    providerView(g, n->gs_proposal);
}

void onRejected(const ha_gs_rejected_notification_t *n)
{
    emit(groupOf(n->gs_provider_token) + ": " + format(n));
}

void onAnnouncement(const ha_gs_announcement_notification_t *n)
{
    emit(groupOf(n->gs_provider_token) + ": " + format(n));
}

void onMerge(const ha_gs_merge_notification_t *n)
{
    emit(groupOf(n->gs_provider_token) + ": " + format(n));
}

void onSubscription(const ha_gs_subscription_notification_t *n)
{
    const std::string g = groupOf(n->gs_subscriber_token);
    emit(g + ": " + format(n));
    if (!agent().views.count(g))
        return;
    View &v = agent().viewState[g];
    const unsigned t = n->gs_subscription_type;
    if ((t & HA_GS_SUBSCRIPTION_MEMBERSHIP) && n->gs_full_membership) {
        v.members = memberNames(n->gs_full_membership);
    } else if ((t & HA_GS_SUBSCRIPTION_DELTA_JOIN) && n->gs_changing_membership) {
        for (const auto &m : memberNames(n->gs_changing_membership))
            v.members.push_back(m);
    } else if ((t & HA_GS_SUBSCRIPTION_DELTA_LEAVE) && n->gs_changing_membership) {
        for (const auto &m : memberNames(n->gs_changing_membership))
            std::erase(v.members, m);
    }
    if ((t & HA_GS_SUBSCRIPTION_STATE) && n->gs_state_value)
        v.state.assign(n->gs_state_value->gs_state ? n->gs_state_value->gs_state : "",
                       n->gs_state_value->gs_length);
    if (t & (HA_GS_SUBSCRIPTION_STATE | HA_GS_SUBSCRIPTION_MEMBERSHIP |
             HA_GS_SUBSCRIPTION_DELTA_JOIN | HA_GS_SUBSCRIPTION_DELTA_LEAVE))
        emitView(g);
}

void onDelayedError(const ha_gs_delayed_error_notification_t *n)
{
    emit(groupOf(n->gs_request_token) + ": " + format(n));
}

ha_gs_callback_rc_t onResponsiveness(const ha_gs_responsiveness_notification_t *n)
{
    if (!agent().reportedPing) {
        agent().reportedPing = true;
        emit("*: " + format(n));
    }
    return agent().answerPings ? HA_GS_CALLBACK_OK : HA_GS_CALLBACK_NOT_OK;
}

/* Runs the callbacks of whatever is pending. */
void agentDispatch()
{
    agent().linesThisDispatch = 0;
    const ha_gs_rc_t rc = ha_gs_dispatch(HA_GS_NON_BLOCKING);
    if (rc != HA_GS_OK) {
        agent().descriptor = -1;
        emit("*: dispatch " + rcName(rc));
        return;
    }
    /* A level-triggered descriptor must not stay readable with nothing to
     * deliver; say so once (a diagnostic, not an assertion). */
    if (agent().linesThisDispatch == 0) {
        if (++agent().idleDispatches > 20000 && !agent().reportedBusy) {
            agent().reportedBusy = true;
            emit("*: descriptor stays readable with nothing to dispatch");
        }
    } else {
        agent().idleDispatches = 0;
    }
}

struct Args {
    std::vector<std::string> pos;
    std::map<std::string, std::string> kv;
    bool has(const std::string &k) const { return kv.count(k) != 0; }
    std::string get(const std::string &k, const std::string &d = "") const
    {
        auto it = kv.find(k);
        return it == kv.end() ? d : it->second;
    }
    int num(const std::string &k, int d) const
    {
        auto it = kv.find(k);
        return it == kv.end() ? d : std::stoi(it->second, nullptr, 0);
    }
};

Args parseArgs(const std::string &line)
{
    Args a;
    std::istringstream is(line);
    std::string w;
    while (is >> w) {
        const size_t eq = w.find('=');
        if (eq != std::string::npos && eq > 0 && w[0] != '#' && w[0] != '"')
            a.kv[w.substr(0, eq)] = w.substr(eq + 1);
        else
            a.pos.push_back(w);
    }
    return a;
}

/* "" -> empty, @N -> N bytes of 'x', \xNN escapes. */
std::string valueOf(const std::string &s)
{
    if (s == "\"\"")
        return "";
    if (s.size() > 1 && s[0] == '@' &&
        std::all_of(s.begin() + 1, s.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::string(std::stoul(s.substr(1)), 'x');
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] == 'x') {
            out += static_cast<char>(std::stoi(s.substr(i + 2, 2), nullptr, 16));
            i += 3;
        } else {
            out += s[i];
        }
    }
    return out;
}

int parsePhases(const std::string &s)
{
    if (s == "1")
        return HA_GS_1_PHASE;
    if (s == "n" || s == "N")
        return HA_GS_N_PHASE;
    return std::stoi(s, nullptr, 0);
}

int parseBatch(const std::string &s)
{
    if (s == "none")
        return HA_GS_NO_BATCHING;
    if (s == "joins")
        return HA_GS_BATCH_JOINS;
    if (s == "leaves")
        return HA_GS_BATCH_LEAVES;
    if (s == "both")
        return HA_GS_BATCH_BOTH;
    return std::stoi(s, nullptr, 0);
}

void applyAttrs(AttrSpec &spec, const Args &a)
{
    ha_gs_group_attributes_t &x = spec.a;
    if (a.has("version"))
        x.gs_version = a.num("version", 1);
    if (a.has("sizeof"))
        x.gs_sizeof_group_attributes = a.num("sizeof", 0);
    if (a.has("cv"))
        x.gs_client_version = a.num("cv", 0);
    if (a.has("batch"))
        x.gs_batch_control = static_cast<ha_gs_batch_ctrl_t>(parseBatch(a.get("batch")));
    if (a.has("phases"))
        x.gs_num_phases = static_cast<ha_gs_num_phases_t>(parsePhases(a.get("phases")));
    if (a.has("sphases"))
        x.gs_source_reflection_num_phases =
            static_cast<ha_gs_num_phases_t>(parsePhases(a.get("sphases")));
    if (a.has("default"))
        x.gs_group_default_vote = parseVote(a.get("default"));
    if (a.has("merge"))
        x.gs_merge_control = static_cast<ha_gs_merge_ctrl_t>(a.num("merge", 0));
    if (a.has("tl"))
        x.gs_time_limit = a.num("tl", 0);
    if (a.has("stl"))
        x.gs_source_reflection_time_limit = a.num("stl", 0);
    if (a.has("source")) {
        spec.sourceNull = a.get("source") == "null";
        spec.source = valueOf(a.get("source"));
    }
    if (a.has("name")) {
        spec.nameNull = a.get("name") == "null";
        spec.name = valueOf(a.get("name"));
    }
}

std::vector<std::string> splitComma(const std::string &s)
{
    std::vector<std::string> out;
    std::string cur;
    std::istringstream is(s);
    while (std::getline(is, cur, ','))
        out.push_back(cur);
    return out;
}

unsigned parseSubFlags(const std::string &s)
{
    if (s.rfind("0x", 0) == 0 || (!s.empty() && std::isdigit(static_cast<unsigned char>(s[0]))))
        return static_cast<unsigned>(std::stoul(s, nullptr, 0));
    unsigned f = 0;
    for (const auto &w : splitComma(s)) {
        if (w == "state")
            f |= HA_GS_SUBSCRIBE_STATE;
        else if (w == "join")
            f |= HA_GS_SUBSCRIBE_DELTA_JOIN;
        else if (w == "leave")
            f |= HA_GS_SUBSCRIBE_DELTA_LEAVE;
        else if (w == "membership")
            f |= HA_GS_SUBSCRIBE_MEMBERSHIP;
        else if (w == "special")
            f |= HA_GS_SUBSCRIBE_SPECIAL_DATA;
        else if (w == "all")
            f |= HA_GS_SUBSCRIBE_ALL_MEMBERSHIP;
    }
    return f;
}

constexpr int kUnknownToken = 0x7ffffff0;

int resolveToken(const std::string &t, bool subscriber)
{
    if (t.empty())
        return kUnknownToken;
    if (t[0] == '#')
        return std::stoi(t.substr(1), nullptr, 0);
    std::string g = t;
    if (t.rfind("p:", 0) == 0) {
        subscriber = false;
        g = t.substr(2);
    } else if (t.rfind("s:", 0) == 0) {
        subscriber = true;
        g = t.substr(2);
    }
    g = valueOf(g);
    const auto &m = subscriber ? agent().subscribers : agent().providers;
    auto it = m.find(g);
    return it == m.end() ? kUnknownToken : it->second;
}

std::string reply(const std::string &verb, int rc, const std::string &extra = "")
{
    return "rc " + verb + " " + rcName(rc) + (extra.empty() ? "" : " " + extra);
}

std::string pos(const Args &a, size_t i)
{
    return i < a.pos.size() ? a.pos[i] : std::string();
}

std::string agentExecute(const std::string &line)
{
    Args a = parseArgs(line);
    if (a.pos.empty())
        return "rc ? rc(-1) empty command";
    const std::string verb = a.pos[0];
    ha_gs_proposal_info_t info;
    std::memset(&info, 0, sizeof info);
    const int phases = a.has("phases") ? parsePhases(a.get("phases")) : HA_GS_1_PHASE;
    const int tl = a.num("tl", 0);
    const ha_gs_proposal_info_t *infoOrNull = a.has("nullinfo") ? nullptr : &info;

    if (verb == "init") {
        ha_gs_socket_ctrl_t ctrl = HA_GS_SOCKET_NO_SIGNAL;
        if (std::find(a.pos.begin(), a.pos.end(), "adapter") != a.pos.end())
            ctrl |= HA_GS_ENABLE_ADAPTER_INFO;
        if (a.has("ctrl"))
            ctrl = static_cast<ha_gs_socket_ctrl_t>(std::stoul(a.get("ctrl"), nullptr, 0));
        ha_gs_responsiveness_t resp;
        std::memset(&resp, 0, sizeof resp);
        const std::string r = a.get("resp", "none");
        resp.gs_responsiveness_type =
            r == "none"      ? HA_GS_NO_RESPONSIVENESS
            : r == "ping"    ? HA_GS_PING_RESPONSIVENESS
            : r == "counter" ? HA_GS_COUNTER_RESPONSIVENESS
                             : static_cast<ha_gs_responsiveness_type_t>(std::stoi(r, nullptr, 0));
        resp.gs_responsiveness_interval = a.num("interval", 1);
        resp.gs_responsiveness_response_time_limit = a.num("limit", 1);
        if (resp.gs_responsiveness_type == HA_GS_COUNTER_RESPONSIVENESS) {
            resp.gs_counter_location = a.get("counter") == "null" ? nullptr : &agentCounter;
            resp.gs_counter_length = a.num("clen", static_cast<int>(sizeof agentCounter));
        }
        const std::string script = a.get("script");
        agent().answerPings = a.get("answer") != "no";
        agent().reportedPing = false;
        ha_gs_descriptor_t fd = -1;
        const bool nocb = a.has("nocb");
        const ha_gs_rc_t rc =
            ha_gs_init(a.has("nodesc") ? nullptr : &fd, ctrl, a.has("resp") ? &resp : nullptr,
                       a.has("script") ? script.c_str() : nullptr,
                       nocb ? nullptr : onResponsiveness, nocb ? nullptr : onDelayedError, nullptr);
        if (rc == HA_GS_OK) {
            agent().descriptor = fd;
            agent().idleDispatches = 0;
        }
        return reply(verb, rc, "fd=" + std::to_string(fd));
    }
    if (verb == "join") {
        const std::string g = valueOf(pos(a, 1));
        AttrSpec spec;
        spec.a.gs_version = 1;
        spec.a.gs_sizeof_group_attributes = sizeof(ha_gs_group_attributes_t);
        spec.name = g;
        applyAttrs(spec, a);
        const ha_gs_group_attributes_t attrs = spec.get();
        const std::string local = valueOf(a.get("local"));
        const std::vector<std::string> nocb = splitComma(a.get("nocb"));
        auto without = [&](const char *cb) {
            return std::find(nocb.begin(), nocb.end(), cb) != nocb.end();
        };
        ha_gs_join_request_t &j = info.gs_join_request;
        j.gs_group_attributes = a.has("nullattrs") ? nullptr : &attrs;
        j.gs_provider_instance = static_cast<short>(std::stoi(pos(a, 2).empty() ? "1" : pos(a, 2)));
        j.gs_provider_local_name = a.has("local") ? local.c_str() : nullptr;
        j.gs_n_phase_protocol_callback = without("nphase") ? nullptr : onNPhase;
        j.gs_protocol_approved_callback = without("approved") ? nullptr : onApproved;
        j.gs_protocol_rejected_callback = without("rejected") ? nullptr : onRejected;
        j.gs_announcement_callback = without("announcement") ? nullptr : onAnnouncement;
        j.gs_merge_callback = onMerge;
        ha_gs_token_t tok = 0;
        const ha_gs_rc_t rc = ha_gs_join(a.has("nulltoken") ? nullptr : &tok, infoOrNull);
        if (rc == HA_GS_OK) {
            agent().providers[g] = tok;
            agent().tokenGroup[tok] = g;
            agent().attrs[g] = spec;
        }
        return reply(verb, rc, "token=" + std::to_string(tok));
    }
    if (verb == "leave") {
        info.gs_leave_request.gs_num_phases = static_cast<ha_gs_num_phases_t>(phases);
        info.gs_leave_request.gs_time_limit = tl;
        info.gs_leave_request.gs_leave_code = static_cast<unsigned>(a.num("code", 0));
        return reply(verb, ha_gs_leave(resolveToken(pos(a, 1), false), infoOrNull));
    }
    if (verb == "goodbye")
        return reply(verb, ha_gs_goodbye(resolveToken(pos(a, 1), false)));
    if (verb == "expel") {
        std::vector<ha_gs_provider_t> list;
        const std::string spec = pos(a, 2);
        if (spec != "none" && spec != "empty") {
            for (const auto &p : splitComma(spec)) {
                ha_gs_provider_t who{};
                const size_t dot = p.find('.');
                who.gs_instance_number = static_cast<short>(std::stoi(p.substr(0, dot)));
                who.gs_node_number =
                    static_cast<short>(dot == std::string::npos ? 1 : std::stoi(p.substr(dot + 1)));
                list.push_back(who);
            }
        }
        ha_gs_provider_t dummy{};
        const std::string flag = valueOf(a.get("dflag"));
        ha_gs_expel_request_t &e = info.gs_expel_request;
        e.gs_num_phases = static_cast<ha_gs_num_phases_t>(phases);
        e.gs_time_limit = tl;
        e.gs_expel_list.gs_count = static_cast<unsigned>(list.size());
        e.gs_expel_list.gs_providers =
            list.empty() ? (spec == "empty" ? &dummy : nullptr) : list.data();
        e.gs_deactivate_phase = static_cast<unsigned>(a.num("dphase", 0));
        e.gs_deactivate_flag = a.has("dflag") ? flag.c_str() : nullptr;
        return reply(verb, ha_gs_expel(resolveToken(pos(a, 1), false), infoOrNull));
    }
    if (verb == "state") {
        std::string value = valueOf(pos(a, 2));
        if (a.has("pad"))
            value.resize(std::max<size_t>(value.size(), std::stoul(a.get("pad"))), 'x');
        ha_gs_state_value_t sv{static_cast<unsigned>(value.size()), value.data()};
        info.gs_state_change_request.gs_num_phases = static_cast<ha_gs_num_phases_t>(phases);
        info.gs_state_change_request.gs_time_limit = tl;
        info.gs_state_change_request.gs_new_state = a.has("null") ? nullptr : &sv;
        return reply(verb, ha_gs_change_state_value(resolveToken(pos(a, 1), false), infoOrNull));
    }
    if (verb == "msg") {
        std::string value = valueOf(pos(a, 2));
        ha_gs_provider_message_t mv{static_cast<unsigned>(value.size()), value.data()};
        info.gs_message_request.gs_num_phases = static_cast<ha_gs_num_phases_t>(phases);
        info.gs_message_request.gs_time_limit = tl;
        info.gs_message_request.gs_message = a.has("null") ? nullptr : &mv;
        return reply(verb, ha_gs_send_message(resolveToken(pos(a, 1), false), infoOrNull));
    }
    if (verb == "attrs") {
        const std::string t = pos(a, 1);
        const std::string g = valueOf(t.rfind("p:", 0) == 0 ? t.substr(2) : t);
        AttrSpec spec;
        if (auto it = agent().attrs.find(g); it != agent().attrs.end()) {
            spec = it->second;
        } else {
            spec.a.gs_version = 1;
            spec.a.gs_sizeof_group_attributes = sizeof(ha_gs_group_attributes_t);
            spec.name = g;
        }
        applyAttrs(spec, a);
        const ha_gs_group_attributes_t attrs = spec.get();
        ha_gs_provider_t sentinel[1] = {{-7, -7}};
        ha_gs_membership_t backlevel{99, sentinel};
        ha_gs_change_attributes_t &c = info.gs_attribute_change_request;
        c.gs_num_phases = static_cast<ha_gs_num_phases_t>(parsePhases(a.get("pphases", "1")));
        c.gs_time_limit = a.num("ptl", 0);
        c.gs_group_attributes = &attrs;
        c.gs_backlevel_providers = &backlevel;
        const ha_gs_rc_t rc = ha_gs_change_attributes(resolveToken(t, false), infoOrNull);
        if (rc == HA_GS_OK)
            agent().attrs[g] = spec;
        return reply(verb, rc, "backlevel=" + std::to_string(backlevel.gs_count));
    }
    if (verb == "vote") {
        std::string st = valueOf(a.get("state"));
        std::string ms = valueOf(a.get("msg"));
        ha_gs_state_value_t sv{static_cast<unsigned>(st.size()), st.data()};
        ha_gs_provider_message_t mv{static_cast<unsigned>(ms.size()), ms.data()};
        return reply(verb, ha_gs_vote(resolveToken(pos(a, 1), false), parseVote(pos(a, 2)),
                                      a.has("state") ? &sv : nullptr, a.has("msg") ? &mv : nullptr,
                                      parseVote(a.get("default", "null"))));
    }
    if (verb == "autovote") {
        const std::string g = valueOf(pos(a, 1));
        Policy p;
        if (a.has("seq")) {
            for (const auto &v : splitComma(a.get("seq")))
                p.seq.push_back(parseVote(v));
        } else if (pos(a, 2) != "none") {
            p.seq.push_back(parseVote(pos(a, 2)));
        }
        if (a.has("state"))
            p.state = valueOf(a.get("state"));
        if (a.has("msg"))
            p.msg = valueOf(a.get("msg"));
        p.def = parseVote(a.get("default", "null"));
        agent().policies[g] = p;
        return reply(verb, HA_GS_OK);
    }
    if (verb == "subscribe") {
        const std::string g = valueOf(pos(a, 1));
        ha_gs_subscribe_request_t &s = info.gs_subscribe_request;
        s.gs_subscription_control = parseSubFlags(pos(a, 2));
        s.gs_subscription_group = a.has("nullgroup") ? nullptr : g.c_str();
        s.gs_subscription_callback = a.has("nocb") ? nullptr : onSubscription;
        ha_gs_token_t tok = 0;
        const ha_gs_rc_t rc = ha_gs_subscribe(a.has("nulltoken") ? nullptr : &tok, infoOrNull);
        if (rc == HA_GS_OK) {
            agent().subscribers[g] = tok;
            agent().tokenGroup[tok] = g;
        }
        return reply(verb, rc, "token=" + std::to_string(tok));
    }
    if (verb == "unsubscribe")
        return reply(verb, ha_gs_unsubscribe(resolveToken(pos(a, 1), true)));
    if (verb == "node") {
        ha_gs_node_number_t node = -1;
        const ha_gs_rc_t rc = ha_gs_get_node_number(a.has("null") ? nullptr : &node);
        return reply(verb, rc, "value=" + std::to_string(node));
    }
    if (verb == "adapter") {
        ha_gs_adapter_info info4;
        std::memset(&info4, 0, sizeof info4);
        info4.node_number = -1;
        inet_pton(AF_INET, pos(a, 1).c_str(), &info4.ip_addr.ip4);
        const ha_gs_rc_t rc = ha_gs_get_adapter_info(a.has("null") ? nullptr : &info4);
        return reply(verb, rc,
                     "node=" + std::to_string(info4.node_number) + " iface=" +
                         (info4.interface_name ? std::string(info4.interface_name) : "-"));
    }
    if (verb == "dispatch") {
        const ha_gs_rc_t rc =
            ha_gs_dispatch(static_cast<ha_gs_dispatch_flag_t>(a.num("flag", HA_GS_NON_BLOCKING)));
        return reply(verb, rc);
    }
    if (verb == "block") {
        const ha_gs_rc_t rc = ha_gs_dispatch(HA_GS_BLOCKING);
        const int64_t t = monotonicNs();
        if (rc != HA_GS_OK)
            agent().descriptor = -1;
        return reply(verb, rc, "t=" + std::to_string(t));
    }
    if (verb == "quit") {
        ha_gs_quit();
        agent().descriptor = -1;
        return reply(verb, HA_GS_OK);
    }
    if (verb == "views") {
        const std::string g = valueOf(pos(a, 1));
        if (pos(a, 2) == "off")
            agent().views.erase(g);
        else
            agent().views.insert(g);
        return reply(verb, HA_GS_OK);
    }
    if (verb == "setenv") {
        setenv(pos(a, 1).c_str(), valueOf(pos(a, 2)).c_str(), 1);
        return reply(verb, HA_GS_OK);
    }
    if (verb == "unsetenv") {
        unsetenv(pos(a, 1).c_str());
        return reply(verb, HA_GS_OK);
    }
    if (verb == "hold" || verb == "resume") {
        agent().held = verb == "hold";
        return reply(verb, HA_GS_OK);
    }
    if (verb == "valuelimit") {
        if (pos(a, 1) == "off")
            valueTextLimit.reset();
        else
            valueTextLimit = static_cast<unsigned>(std::stoul(pos(a, 1)));
        return reply(verb, HA_GS_OK);
    }
    if (verb == "counter") {
        stopAgentCounter();
        if (pos(a, 1) == "run") {
            agentCounterRuns = true;
            agentCounterThread = std::thread([] {
                while (agentCounterRuns) {
                    ++agentCounter;
                    std::this_thread::sleep_for(std::chrono::milliseconds(20));
                }
            });
        }
        return reply(verb, HA_GS_OK, "value=" + std::to_string(agentCounter.load()));
    }
    if (verb == "echo")
        return reply(verb, HA_GS_OK, "text=" + pos(a, 1));
    if (verb == "exit")
        _exit(a.num("code", 0));
    return "rc " + verb + " rc(-1) unknown command";
}

int runAgentLoop(ChildIo &io)
{
    agentReset();
    agent().sink = [&io](const std::string &line) { io.report(line); };
    std::string buf;
    for (;;) {
        pollfd fds[2] = {{io.commandFd(), POLLIN, 0}, {agent().descriptor, POLLIN, 0}};
        const nfds_t n = agent().descriptor >= 0 && !agent().held ? 2 : 1;
        if (poll(fds, n, -1) < 0) {
            if (errno == EINTR)
                continue;
            return 2;
        }
        if (n == 2 && (fds[1].revents & POLLNVAL)) {
            agent().descriptor = -1;
            io.report("*: descriptor became invalid");
        } else if (n == 2 && fds[1].revents) {
            agentDispatch();
        }
        if (fds[0].revents) {
            char chunk[4096];
            const ssize_t r = read(io.commandFd(), chunk, sizeof chunk);
            if (r == 0)
                return 0;
            if (r < 0) {
                if (errno == EINTR)
                    continue;
                return 2;
            }
            buf.append(chunk, static_cast<size_t>(r));
            size_t nl;
            while ((nl = buf.find('\n')) != std::string::npos) {
                const std::string cmd = buf.substr(0, nl);
                buf.erase(0, nl + 1);
                std::string out;
                try {
                    out = agentExecute(cmd);
                } catch (const std::exception &e) {
                    out = "rc ? rc(-1) exception " + std::string(e.what());
                }
                io.report(out);
            }
        }
    }
}

} // namespace

/* ======================================================================== */
/*  Client                                                                  */
/* ======================================================================== */

int Reply::token() const
{
    return std::stoi(field(line, "token").empty() ? "0" : field(line, "token"));
}

void Client::push(const std::string &line)
{
    /* API_TRACE=1 in the environment prints every line (debugging aid). */
    static const bool trace = std::getenv("API_TRACE") != nullptr;
    if (trace)
        std::fprintf(stderr, "[%s] %.300s\n", name_.c_str(), line.c_str());
    if (line.rfind("rc ", 0) == 0) {
        replies_.push_back(line);
    } else {
        notes_.push_back(line);
        history_.push_back(line);
    }
}

std::string Client::describe() const
{
    std::string out = "client " + name_ + ": pending lines:\n";
    for (const auto &l : notes_)
        out += "    " + l + "\n";
    out += "  history (last 40):\n";
    const size_t from = history_.size() > 40 ? history_.size() - 40 : 0;
    for (size_t i = from; i < history_.size(); ++i)
        out += "    " + history_[i] + "\n";
    return out;
}

Reply Client::call(const std::string &command, std::source_location where)
{
    send(command);
    return reply(command, 20000, where);
}

void Client::send(const std::string &command)
{
    sendCommand(command);
}

Reply Client::reply(const std::string &command, int timeoutMs, std::source_location where)
{
    const std::string verb = command.substr(0, command.find(' '));
    const int64_t deadline = monotonicNs() + int64_t{timeoutMs} * 1000000;
    for (;;) {
        if (!replies_.empty()) {
            Reply r;
            r.line = replies_.front();
            replies_.pop_front();
            std::istringstream is(r.line);
            std::string rcWord, v;
            is >> rcWord >> v >> r.rc;
            if (v != verb)
                DOCTEST_ADD_FAIL_AT(where.file_name(), static_cast<int>(where.line()),
                                    "reply '" << r.line << "' does not answer '" << command << "'\n"
                                              << describe());
            return r;
        }
        const int64_t left = (deadline - monotonicNs()) / 1000000;
        if (left <= 0)
            DOCTEST_ADD_FAIL_AT(where.file_name(), static_cast<int>(where.line()),
                                "no reply to '" << command << "' within " << timeoutMs << " ms\n"
                                                << describe());
        if (fetch(static_cast<int>(left)) == Fetch::Closed && replies_.empty())
            DOCTEST_ADD_FAIL_AT(where.file_name(), static_cast<int>(where.line()),
                                "client gone while waiting for the reply to '" << command << "'\n"
                                                                               << describe());
    }
}

std::optional<std::string> Client::tryWaitFor(const Match &m, int timeoutMs)
{
    const int64_t deadline = monotonicNs() + int64_t{timeoutMs} * 1000000;
    for (;;) {
        for (auto it = notes_.begin(); it != notes_.end(); ++it) {
            if (m(*it)) {
                std::string line = *it;
                notes_.erase(it);
                return line;
            }
        }
        const int64_t left = (deadline - monotonicNs()) / 1000000;
        if (left <= 0)
            return std::nullopt;
        if (fetch(static_cast<int>(left)) == Fetch::Closed) {
            closed_ = true;
            for (auto it = notes_.begin(); it != notes_.end(); ++it) {
                if (m(*it)) {
                    std::string line = *it;
                    notes_.erase(it);
                    return line;
                }
            }
            return std::nullopt;
        }
    }
}

std::string Client::waitFor(const Match &m, int timeoutMs, std::source_location where)
{
    closed_ = false;
    auto line = tryWaitFor(m, timeoutMs);
    if (!line)
        DOCTEST_ADD_FAIL_AT(
            where.file_name(), static_cast<int>(where.line()),
            (closed_ ? "client gone (or its session dead) while waiting for "
                     : "timed out after " + std::to_string(timeoutMs) + " ms waiting for ")
                << m.text() << "\n"
                << describe());
    return *line;
}

std::string Client::next(int timeoutMs, std::source_location where)
{
    return nextWith("", timeoutMs, where);
}

std::string Client::nextWith(const std::string &prefix, int timeoutMs, std::source_location where)
{
    const int64_t deadline = monotonicNs() + int64_t{timeoutMs} * 1000000;
    for (;;) {
        while (!notes_.empty()) {
            std::string line = notes_.front();
            notes_.pop_front();
            if (line.compare(0, prefix.size(), prefix) == 0)
                return line;
        }
        const int64_t left = (deadline - monotonicNs()) / 1000000;
        Fetch f = Fetch::Timeout;
        if (left > 0)
            f = fetch(static_cast<int>(left));
        if (notes_.empty() && (left <= 0 || f == Fetch::Closed))
            DOCTEST_ADD_FAIL_AT(where.file_name(), static_cast<int>(where.line()),
                                "no line starting with '" << prefix << "' within " << timeoutMs
                                                          << " ms\n"
                                                          << describe());
    }
}

void Client::drain(int timeoutMs)
{
    const int64_t deadline = monotonicNs() + int64_t{timeoutMs} * 1000000;
    for (;;) {
        const int64_t left = (deadline - monotonicNs()) / 1000000;
        if (left <= 0 || fetch(static_cast<int>(left)) == Fetch::Closed)
            return;
    }
}

/* ======================================================================== */
/*  ClientProcess                                                           */
/* ======================================================================== */

void ChildIo::report(const std::string &line)
{
    writeAll(reportFd_, line + "\n");
}

ClientProcess::ClientProcess(std::string name, const PrivateGsd &gsd, ClientOptions options)
    : ClientProcess(std::move(name), gsd.endpoint(), std::move(options))
{
}

ClientProcess::ClientProcess(std::string name, const std::string &endpoint, ClientOptions options)
    : Client(std::move(name))
{
    if (localActive)
        FAIL("ClientProcess created while this process has a GSAPI session (create every "
             "ClientProcess before the LocalClient)");
    int rep[2], cmd[2];
    if (pipe2(rep, O_CLOEXEC) != 0 || pipe2(cmd, O_CLOEXEC) != 0)
        FAIL("pipe2: " << std::strerror(errno));
    fcntl(rep[1], F_SETPIPE_SZ, 1 << 20);
    std::fflush(nullptr);
    pid_ = fork();
    if (pid_ < 0)
        FAIL("fork: " << std::strerror(errno));
    if (pid_ == 0) {
        closeFdsExcept({0, 1, 2, rep[1], cmd[0]});
        std::signal(SIGPIPE, SIG_DFL);
        setenv("HA_GS_SOCKET", endpoint.c_str(), 1);
        for (const auto &[k, v] : options.env)
            setenv(k.c_str(), v.c_str(), 1);
        ChildIo io(rep[1], cmd[0]);
        if (options.setup) {
            try {
                options.setup();
            } catch (const std::exception &e) {
                io.report(std::string("*: setup failed: ") + e.what());
                _exit(3);
            }
        }
        int code = 2;
        try {
            code = runAgentLoop(io);
        } catch (...) {
            code = 4;
        }
        _exit(code);
    }
    close(rep[1]);
    close(cmd[0]);
    reportFd_ = rep[0];
    commandFd_ = cmd[1];
    if (options.autoInit) {
        try {
            const Reply r = call("init");
            if (r.rc != "HA_GS_OK")
                FAIL("client " << this->name() << ": ha_gs_init gave " << r.line);
        } catch (...) {
            ::kill(pid_, SIGKILL);
            waitPidFor(pid_, 5000);
            close(reportFd_);
            close(commandFd_);
            throw;
        }
    }
}

ClientProcess::~ClientProcess()
{
    if (commandFd_ >= 0)
        close(commandFd_);
    if (pid_ > 0 && !waitExit(5000)) {
        ::kill(pid_, SIGKILL);
        waitExit(5000);
    }
    if (reportFd_ >= 0)
        close(reportFd_);
}

void ClientProcess::kill(int sig)
{
    if (pid_ > 0)
        ::kill(pid_, sig);
}

std::optional<int> ClientProcess::waitExit(int timeoutMs)
{
    if (pid_ <= 0)
        return std::nullopt;
    auto st = waitPidFor(pid_, timeoutMs);
    if (st)
        pid_ = -1;
    return st;
}

void ClientProcess::sendCommand(const std::string &command)
{
    writeAll(commandFd_, command + "\n");
}

Client::Fetch ClientProcess::fetch(int timeoutMs)
{
    if (reportFd_ < 0)
        return Fetch::Closed;
    pollfd p{reportFd_, POLLIN, 0};
    const int r = poll(&p, 1, timeoutMs);
    if (r <= 0)
        return Fetch::Timeout;
    char chunk[65536];
    const ssize_t n = read(reportFd_, chunk, sizeof chunk);
    if (n <= 0) {
        if (n < 0 && errno == EINTR)
            return Fetch::Timeout;
        close(reportFd_);
        reportFd_ = -1;
        return Fetch::Closed;
    }
    partial_.append(chunk, static_cast<size_t>(n));
    size_t nl;
    while ((nl = partial_.find('\n')) != std::string::npos) {
        push(partial_.substr(0, nl));
        partial_.erase(0, nl + 1);
    }
    return Fetch::Data;
}

/* ======================================================================== */
/*  LocalClient                                                             */
/* ======================================================================== */

LocalClient::LocalClient(std::string name, const PrivateGsd &gsd, bool autoInit)
    : LocalClient(std::move(name), gsd.endpoint(), autoInit)
{
}

LocalClient::LocalClient(std::string name, const std::string &endpoint, bool autoInit)
    : Client(std::move(name))
{
    if (localActive)
        FAIL("only one LocalClient may exist at a time");
    localActive = true;
    setenv("HA_GS_SOCKET", endpoint.c_str(), 1);
    agentReset();
    agent().sink = [this](const std::string &line) { push(line); };
    if (autoInit) {
        try {
            const Reply r = call("init");
            if (r.rc != "HA_GS_OK")
                FAIL("local client: ha_gs_init gave " << r.line);
        } catch (...) {
            ha_gs_quit();
            agent().sink = nullptr;
            agentReset();
            localActive = false;
            throw;
        }
    }
}

LocalClient::~LocalClient()
{
    ha_gs_quit();
    agent().sink = nullptr;
    agentReset();
    localActive = false;
}

void LocalClient::sendCommand(const std::string &command)
{
    std::string out;
    try {
        out = agentExecute(command);
    } catch (const std::exception &e) {
        out = "rc ? rc(-1) exception " + std::string(e.what());
    }
    push(out);
}

Client::Fetch LocalClient::fetch(int timeoutMs)
{
    if (agent().descriptor < 0)
        return Fetch::Closed;
    if (agent().held) {
        std::this_thread::sleep_for(std::chrono::milliseconds(timeoutMs));
        return Fetch::Timeout;
    }
    pollfd p{agent().descriptor, POLLIN, 0};
    const int r = poll(&p, 1, timeoutMs);
    if (r < 0 || (p.revents & POLLNVAL))
        return Fetch::Closed;
    if (r == 0)
        return Fetch::Timeout;
    agentDispatch();
    return Fetch::Data;
}

void joinInOrder(const std::vector<Client *> &clients, const std::string &group,
                 const std::string &options, int node, std::source_location where)
{
    for (size_t i = 0; i < clients.size(); ++i) {
        const std::string who = std::to_string(i + 1) + "." + std::to_string(node);
        const Reply r =
            clients[i]->call("join " + group + " " + std::to_string(i + 1) + " " + options, where);
        if (r.rc != "HA_GS_OK")
            DOCTEST_ADD_FAIL_AT(where.file_name(), static_cast<int>(where.line()),
                                clients[i]->name() << ": join " << group << " gave " << r.line);
        for (size_t j = 0; j <= i; ++j)
            clients[j]->waitFor({group + ": approved JOIN", {"chg=[" + who + "]"}}, kWaitMs, where);
    }
    for (Client *c : clients)
        c->clearPending();
}

/* ======================================================================== */
/*  Helpers for direct API use                                              */
/* ======================================================================== */

ha_gs_group_attributes_t defaultAttributes(const char *groupName)
{
    ha_gs_group_attributes_t a;
    std::memset(&a, 0, sizeof a);
    a.gs_version = 1;
    a.gs_sizeof_group_attributes = sizeof(ha_gs_group_attributes_t);
    a.gs_group_name = groupName;
    return a;
}

void ignoreNPhase(const ha_gs_n_phase_notification_t *) {}
void ignoreApproved(const ha_gs_approved_notification_t *) {}
void ignoreRejected(const ha_gs_rejected_notification_t *) {}
void ignoreSubscription(const ha_gs_subscription_notification_t *) {}

} // namespace api
