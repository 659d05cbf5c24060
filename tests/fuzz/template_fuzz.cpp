// libFuzzer target for the template language and the SMS text functions (tests/fuzz/README in
// CMakeLists.txt). The input's first half is compiled as a template, the second half parsed as
// the JSON render context; the rendered text then goes through the SMS planning, counting,
// forbidden-character and registered-template code, and the whole input through the phone
// number parser. Any crash, sanitizer report or broken invariant fails the run.
#include "daemon/render/phone.hpp"
#include "daemon/render/registered.hpp"
#include "daemon/render/sms_text.hpp"
#include "daemon/render/template.hpp"

#include <boost/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

namespace {

using namespace tinbao;

// Used when the second half is not a JSON object, so the renderer still gets exercised.
const boost::json::value& fallback_context() {
    static const boost::json::value ctx = boost::json::parse(R"({
        "event_id": "e-1", "status_label": "Có kết quả",
        "dossier": {"code": "000.00.12.H62-261120-0007", "fee": 200000,
                    "appointment_at": "2026-11-30T14:00:00+07:00", "note": ""},
        "applicant": {"name": "Nguyễn Thị Ánh Tuyết", "phone": "0912345678"},
        "data": {"counter": "Quầy số 5", "flag": true, "n": 1.5, "list": [1, 2]}})");
    return ctx;
}

void check(bool ok) {
    if (!ok) std::abort();
}

void sms_paths(std::string_view text) {
    for (auto policy : {sms::UnicodePolicy::auto_, sms::UnicodePolicy::never,
                        sms::UnicodePolicy::always}) {
        sms::PlanResult r = sms::plan(text, policy, 3);
        check(r.plan.has_value() != r.error.has_value());
        if (r.plan) check(r.plan->count.segments <= 3);
        if (r.plan && policy == sms::UnicodePolicy::never)
            check(sms::is_gsm7(r.plan->text));
    }
    std::string plain = sms::unaccent(text);
    sms::Count c = sms::count_auto(plain);
    check((c.characters == 0) == (c.segments == 0));
    std::string replaced = sms::replace_forbidden(text, "&#", " ");
    check(replaced.find('&') == std::string::npos && replaced.find('#') == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const std::string_view source = input.substr(0, size / 2);
    const std::string_view context = input.substr(size / 2);

    if (auto m = phone::normalize_mobile(input)) check(m->size() == 11 && m->rfind("84", 0) == 0);
    (void)phone::is_landline(input);

    // The template half also as registered wording, matched against both halves.
    auto reg = sms::RegisteredTemplates::compile({std::string(source)});
    if (auto* set = std::get_if<sms::RegisteredTemplates>(&reg)) {
        (void)set->match(context);
        (void)set->match(source);
    }

    auto compiled = tpl::Template::compile(source, "fuzz.yaml");
    if (auto* err = std::get_if<tpl::Error>(&compiled)) {
        check(err->line >= 1 && err->column >= 1 && !err->message.empty());
        return 0;
    }
    const auto& t = std::get<tpl::Template>(compiled);

    boost::system::error_code ec;
    boost::json::value parsed = boost::json::parse(context, ec);
    const boost::json::value& ctx = !ec && parsed.is_object() ? parsed : fallback_context();

    for (bool html : {false, true}) {
        auto r = t.render(ctx, tpl::RenderOptions{html});
        if (auto* text = std::get_if<std::string>(&r)) {
            // Inserted values are escaped: a '<' can only come from the template's own text.
            const bool template_has_lt = source.find('<') != std::string_view::npos;
            if (html)
                check(template_has_lt || text->find('<') == std::string::npos);
            else
                sms_paths(*text);
        } else {
            const auto& e = std::get<tpl::Error>(r);
            check(e.line >= 1 && e.column >= 1 && e.file == "fuzz.yaml");
        }
    }
    return 0;
}
