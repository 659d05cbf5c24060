// The fields of the dossier status event (docs/api.md, "The event") that templates may name,
// with their kind: what `tinbaod --check` checks every template's `{{ path }}` and
// `{% if path %}` against, without needing a sample event. Also the Vietnamese names operators
// reach for (the national portal's own field names), so a template written with
// `dossier.ma_ho_so` is told to use `dossier.code`.
//
// Plain constant tables; thread-safe.
#pragma once

#include <array>
#include <string_view>
#include <utility>

namespace tinbao::event_fields {

enum class Kind {
    text,    // a string (times are RFC 3339 strings)
    number,  // an integer
    object,  // has the fields below it; cannot be inserted, can be tested with `if`
    list,    // cannot be inserted, can be tested with `if`
    any,     // free-form below: `data.*`
};

struct Field {
    std::string_view path;
    Kind kind;
};

// Every documented field, and `status_label`, which the renderer adds.
inline constexpr std::array<Field, 24> kFields = {{
    {"event_id", Kind::text},
    {"occurred_at", Kind::text},
    {"status_label", Kind::text},
    {"dossier", Kind::object},
    {"dossier.code", Kind::text},
    {"dossier.status", Kind::text},
    {"dossier.previous_status", Kind::text},
    {"dossier.procedure", Kind::object},
    {"dossier.procedure.code", Kind::text},
    {"dossier.procedure.name", Kind::text},
    {"dossier.agency", Kind::object},
    {"dossier.agency.code", Kind::text},
    {"dossier.agency.name", Kind::text},
    {"dossier.received_at", Kind::text},
    {"dossier.appointment_at", Kind::text},
    {"dossier.fee", Kind::number},
    {"dossier.note", Kind::text},
    {"applicant", Kind::object},
    {"applicant.name", Kind::text},
    {"applicant.phone", Kind::text},
    {"applicant.email", Kind::text},
    {"applicant.zalo_user_id", Kind::text},
    {"channels", Kind::list},
    {"data", Kind::any},
}};

// Names a template author may write for a field, compared without case, '_' or '-' (so
// `ma_ho_so`, `MaHoSo` and `mahoso` are one): Vietnamese as the one-stop software and the
// national portal (Cổng Dịch vụ công quốc gia) name them, and common English ones.
inline constexpr std::array<std::pair<std::string_view, std::string_view>, 30> kAliases = {{
    {"mahoso", "dossier.code"},
    {"sohoso", "dossier.code"},
    {"hoso", "dossier.code"},
    {"dossiercode", "dossier.code"},
    {"trangthai", "dossier.status"},
    {"trangthaihoso", "dossier.status"},
    {"trangthaitruoc", "dossier.previous_status"},
    {"mathutuc", "dossier.procedure.code"},
    {"thutuc", "dossier.procedure.name"},
    {"tenthutuc", "dossier.procedure.name"},
    {"macoquan", "dossier.agency.code"},
    {"coquan", "dossier.agency.name"},
    {"tencoquan", "dossier.agency.name"},
    {"donvi", "dossier.agency.name"},
    {"ngaytiepnhan", "dossier.received_at"},
    {"ngaynop", "dossier.received_at"},
    {"ngayhentra", "dossier.appointment_at"},
    {"hentra", "dossier.appointment_at"},
    {"appointment", "dossier.appointment_at"},
    {"phi", "dossier.fee"},
    {"lephi", "dossier.fee"},
    {"ghichu", "dossier.note"},
    {"ten", "applicant.name"},
    {"hoten", "applicant.name"},
    {"tennguoinop", "applicant.name"},
    {"sodienthoai", "applicant.phone"},
    {"dienthoai", "applicant.phone"},
    {"sdt", "applicant.phone"},
    {"phonenumber", "applicant.phone"},
    {"thudientu", "applicant.email"},
}};

}  // namespace tinbao::event_fields
