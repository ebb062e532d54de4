/* SPDX-License-Identifier: MIT */
#include "gsd/log_setup.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/stat.h>

namespace gs {
namespace {

/* "%*": the line's syslog priority in sd-daemon's prefix form. */
class PriorityFlag final : public spdlog::custom_flag_formatter {
  public:
    void format(const spdlog::details::log_msg &msg, const std::tm &,
                spdlog::memory_buf_t &dest) override
    {
        const std::string prefix = "<" + std::to_string(syslogPriority(msg.level)) + ">";
        dest.append(prefix.data(), prefix.data() + prefix.size());
    }
    std::unique_ptr<custom_flag_formatter> clone() const override
    {
        return spdlog::details::make_unique<PriorityFlag>();
    }
};

} // namespace

int syslogPriority(spdlog::level::level_enum level)
{
    switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
        return 7;
    case spdlog::level::info:
        return 6;
    case spdlog::level::warn:
        return 4;
    case spdlog::level::err:
        return 3;
    default:
        return 2;
    }
}

bool stderrIsJournal()
{
    /* "DEVICE:INODE" of the journal's stream (systemd.exec(5)); stderr may
     * have been redirected since, so it is compared, not trusted. */
    const char *stream = std::getenv("JOURNAL_STREAM");
    if (!stream)
        return false;
    struct stat st {};
    if (fstat(fileno(stderr), &st) != 0)
        return false;
    unsigned long long device = 0, inode = 0;
    if (std::sscanf(stream, "%llu:%llu", &device, &inode) != 2)
        return false;
    return device == st.st_dev && inode == st.st_ino;
}

void setUpLogging(spdlog::level::level_enum level)
{
    spdlog::set_default_logger(spdlog::stderr_color_mt("gsd"));
    if (stderrIsJournal()) {
        auto formatter = std::make_unique<spdlog::pattern_formatter>();
        formatter->add_flag<PriorityFlag>('*').set_pattern("%*%l: %v");
        spdlog::set_formatter(std::move(formatter));
    } else {
        spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e gsd[%P] %l: %v");
    }
    spdlog::set_level(level);
}

} // namespace gs
