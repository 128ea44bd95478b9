package console

import (
	"net/http"
	"strings"

	"github.com/linli/linli/mutualaid/catalog"
)

// Languages: Chinese by default, English by a switch (?lang=en, kept in a
// cookie). Every label a page shows is a key of messages, in both.
const (
	langZH = "zh"
	langEN = "en"
)

// langCookie keeps the chosen language.
const langCookie = "linli_lang"

// language is the request's language: ?lang= (which the page then keeps
// in a cookie), the cookie, or Chinese.
func language(r *http.Request) (lang string, fromQuery bool) {
	if l := r.URL.Query().Get("lang"); l == langZH || l == langEN {
		return l, true
	}
	if c, err := r.Cookie(langCookie); err == nil && (c.Value == langZH || c.Value == langEN) {
		return c.Value, false
	}
	return langZH, false
}

// tr translates key into lang; a missing key shows itself (a test checks
// that every key a template uses exists in both languages).
func tr(lang, key string) string {
	m, ok := messages[key]
	if !ok {
		return key
	}
	if lang == langEN {
		return m[1]
	}
	return m[0]
}

// messages: key → {Chinese, English}.
var messages = map[string][2]string{
	"app.name":                             {"邻里 社区工作台", "linli staff console"},
	"nav.skip":                             {"跳到正文", "Skip to content"},
	"nav.queue":                            {"待办队列", "Queue"},
	"nav.cases":                            {"转办案件", "Cases"},
	"nav.report":                           {"统计报告", "Report"},
	"nav.buildings":                        {"楼栋与投放点", "Buildings"},
	"nav.joincodes":                        {"加入码", "Join codes"},
	"nav.members":                          {"成员", "Members"},
	"nav.policy":                           {"升级规则", "Escalation"},
	"nav.sessions":                         {"登录设备", "Sessions"},
	"nav.communities":                      {"切换社区", "Communities"},
	"nav.signout":                          {"退出登录", "Sign out"},
	"nav.lang":                             {"English", "中文"},
	"nav.signedin":                         {"已登录：", "Signed in: "},
	"nav.main":                             {"主菜单", "Main menu"},
	"common.save":                          {"保存", "Save"},
	"common.none":                          {"暂无", "None"},
	"common.prev":                          {"上一页", "Previous"},
	"common.next":                          {"下一页", "Next"},
	"common.page":                          {"第 %d 页，共 %d 条", "Page %d of %d items"},
	"common.yes":                           {"是", "Yes"},
	"common.no":                            {"否", "No"},
	"common.back":                          {"返回", "Back"},
	"common.error":                         {"操作未完成：", "Not done: "},
	"common.done":                          {"已完成。", "Done."},
	"common.building":                      {"楼栋", "Building"},
	"common.role":                          {"角色", "Role"},
	"common.actions":                       {"操作", "Actions"},
	"common.expires":                       {"有效期至", "Expires"},
	"signin.title":                         {"登录社区工作台", "Sign in to the staff console"},
	"signin.intro":                         {"无需密码：在手机 App 的「我的设备」中生成一次性登录码（10 分钟内有效），或使用工作人员加入码。", "No password: make a one-time sign-in code in the app under “My devices” (valid for 10 minutes), or use a staff join code."},
	"signin.code":                          {"登录码或加入码", "Sign-in code or join code"},
	"signin.name":                          {"姓名（仅首次使用工作人员加入码时填写）", "Your name (only when joining with a staff join code)"},
	"signin.submit":                        {"登录", "Sign in"},
	"signin.staffonly":                     {"只有社区工作人员和管理员可以登录工作台。", "Only community staff and admins can sign in here."},
	"signin.invalid":                       {"登录码无效：可能输入有误、已过期或已被使用。请在 App 中重新生成。", "This code is not valid: it may be mistyped, expired or used. Make a new one in the app."},
	"signin.needname":                      {"这是一个新的工作人员加入码：请填写您的姓名。", "This is a new staff join code: please give your name."},
	"signin.limited":                       {"尝试次数过多，请稍后再试。", "Too many attempts: please try again shortly."},
	"signin.ended":                         {"您的登录已结束，请重新登录。", "Your session has ended. Please sign in again."},
	"signin.notstaff":                      {"您已不是社区工作人员，已退出工作台。", "You are no longer community staff and have been signed out."},
	"signin.expired":                       {"表单已过期，请重试。", "The form expired; please try again."},
	"queue.title":                          {"待办队列", "Queue"},
	"queue.intro":                          {"邻居未能及时满足的求助，按紧急程度排列：先处理危急情况。", "Requests neighbours could not meet in time, most urgent first."},
	"queue.emergencies":                    {"紧急警报（已提示拨打120）", "Emergency alerts (told to call 120)"},
	"queue.waiting":                        {"等待处理", "Waiting for staff"},
	"queue.stuck":                          {"转办受阻的案件", "Stuck cases"},
	"queue.empty":                          {"队列为空：没有等待处理的求助。", "The queue is empty: nothing waits for staff."},
	"queue.forward":                        {"转办至热线…", "Forward to the hotline…"},
	"queue.dismiss":                        {"不转办", "Dismiss"},
	"queue.reason":                         {"原因（例如：已电话联系居民）", "Reason (e.g. phoned the resident)"},
	"queue.retry":                          {"重新发送", "Send again"},
	"queue.waited":                         {"已等待", "Waiting for"},
	"queue.posted":                         {"发布于", "Posted"},
	"queue.overdue":                        {"超时于", "Overdue since"},
	"queue.due":                            {"升级时间", "Goes to staff at"},
	"queue.forwhom":                        {"求助对象", "For"},
	"queue.signs":                          {"危急症状", "Emergency signs"},
	"queue.items":                          {"所需物品", "Needs"},
	"queue.note":                           {"说明", "Note"},
	"queue.unit":                           {"门牌", "Unit"},
	"queue.phone":                          {"电话", "Phone"},
	"queue.author":                         {"居民", "Resident"},
	"queue.forwarded":                      {"已转办。", "Forwarded."},
	"queue.dismissed":                      {"已标记为不转办。", "Dismissed."},
	"queue.retried":                        {"已重新发送。", "Sent again."},
	"live.connecting":                      {"正在连接实时更新…", "Connecting to live updates…"},
	"live.live":                            {"实时更新中", "Live"},
	"live.updated":                         {"已更新", "Updated"},
	"live.stale":                           {"数据可能已过时：连接中断，正在重连…", "Possibly out of date: connection lost, reconnecting…"},
	"live.offline":                         {"离线：无法连接服务器，显示的是旧数据。", "Offline: cannot reach the server; this is old data."},
	"live.noscript":                        {"实时更新需要 JavaScript；本页每 30 秒自动刷新。", "Live updates need JavaScript; this page reloads every 30 seconds."},
	"notice.nohotline":                     {"未配置热线：转办的案件暂存在 linli 的发件箱中，配置热线后自动发出。", "No hotline is configured: forwarded cases wait in linli's outbox and go out once one is."},
	"notice.stuck":                         {"部分案件无法送达热线：", "Some cases are not reaching the hotline: "},
	"forward.title":                        {"转办至 12345 热线", "Forward to the 12345 hotline"},
	"forward.desc":                         {"案件描述（可修改；地址只到楼栋，不含门牌）", "Case description (editable; the address goes at building level, never the unit)"},
	"forward.phone":                        {"同时提供居民电话", "Include the resident's phone number"},
	"forward.noconsent":                    {"居民未同意向热线提供电话，不能提供。", "The resident has not agreed to give their phone to the hotline."},
	"forward.consent":                      {"居民已同意向热线提供电话。", "The resident agreed that their phone may go to the hotline."},
	"forward.submit":                       {"转办", "Forward"},
	"forward.request":                      {"求助详情", "The request"},
	"cases.title":                          {"转办案件", "Forwarded cases"},
	"cases.empty":                          {"还没有转办的案件。", "No case has been forwarded yet."},
	"cases.state":                          {"热线状态", "Hotline status"},
	"cases.agency":                         {"承办单位", "Agency"},
	"cases.forwardedat":                    {"转办时间", "Forwarded"},
	"cases.expected":                       {"预计办结", "Expected"},
	"cases.closedat":                       {"办结时间", "Closed"},
	"cases.rating":                         {"居民评价", "Resident's rating"},
	"cases.notrated":                       {"未评价", "Not rated"},
	"cases.solved":                         {"已解决", "solved"},
	"cases.unsolved":                       {"未解决", "not solved"},
	"cases.id":                             {"热线编号", "Hotline id"},
	"cases.auto":                           {"按规则自动转办", "Forwarded by policy"},
	"cases.notes":                          {"热线备注", "Hotline notes"},
	"cases.why":                            {"原因", "Why"},
	"report.title":                         {"统计报告", "Report"},
	"report.from":                          {"开始日期", "From"},
	"report.to":                            {"结束日期（含）", "To (inclusive)"},
	"report.show":                          {"查看", "Show"},
	"report.csv":                           {"下载 CSV", "Download CSV"},
	"report.figures":                       {"主要指标", "Figures"},
	"report.metchart":                      {"每日求助满足情况", "Needs met, by day"},
	"report.helpchart":                     {"获得帮助所用时间", "Time to help"},
	"report.met":                           {"邻居满足", "Met by neighbours"},
	"report.closed":                        {"热线办结", "Resolved by the hotline"},
	"report.unmet":                         {"尚未满足", "Not met (yet)"},
	"report.requests":                      {"求助", "requests"},
	"report.bycat":                         {"最常见的未满足需求（按类别）", "Most frequent unmet needs, by category"},
	"report.bybldg":                        {"最常见的未满足需求（按楼栋）", "Most frequent unmet needs, by building"},
	"report.badperiod":                     {"请选择有效的时间段（最长 366 天）。", "Choose a valid period (at most 366 days)."},
	"row.requests":                         {"求助总数", "Requests"},
	"row.met_by_neighbours":                {"邻居满足", "Met by neighbours"},
	"row.overdue":                          {"超时进入待办", "Overdue (staff queue)"},
	"row.escalated":                        {"转办热线", "Forwarded to the hotline"},
	"row.closed":                           {"热线办结", "Resolved by the hotline"},
	"row.rated":                            {"居民评价数", "Rated by residents"},
	"row.solved":                           {"　其中：已解决", "  solved"},
	"row.satisfied":                        {"　其中：满意", "  satisfied"},
	"row.basically_satisfied":              {"　其中：基本满意", "  basically satisfied"},
	"row.unsatisfied":                      {"　其中：不满意", "  unsatisfied"},
	"row.resolution_rate":                  {"解决率", "Resolution rate"},
	"row.satisfaction_rate":                {"满意率", "Satisfaction rate"},
	"row.median_time_to_help":              {"获得帮助的中位时间", "Median time to help"},
	"buildings.title":                      {"楼栋与投放点", "Buildings and drop points"},
	"buildings.id":                         {"楼栋编号", "Building id"},
	"buildings.name":                       {"名称", "Name"},
	"buildings.drops":                      {"投放点（每行一个）", "Drop points (one per line)"},
	"buildings.add":                        {"新增或修改楼栋", "Add or change a building"},
	"buildings.edit":                       {"修改", "Edit"},
	"buildings.saved":                      {"楼栋已保存。", "Building saved."},
	"codes.title":                          {"加入码", "Join codes"},
	"codes.intro":                          {"加入码只在生成时显示一次，系统只保存其摘要。生成后可打印带二维码的楼栋海报。", "A join code is shown only when made; linli keeps only its hash. Print its poster with a QR code for the lobby once it is made."},
	"codes.make":                           {"生成加入码", "Make a join code"},
	"codes.uses":                           {"可用次数", "Uses"},
	"codes.days":                           {"有效天数", "Valid for (days)"},
	"codes.any":                            {"（不限楼栋）", "(any building)"},
	"codes.id":                             {"编号", "Id"},
	"codes.used":                           {"已用", "Used"},
	"codes.usable":                         {"可用", "Usable"},
	"codes.made":                           {"加入码已生成", "Join code made"},
	"codes.once":                           {"请现在记下或打印：此码不会再次显示。", "Write it down or print it now: it is not shown again."},
	"codes.print":                          {"打印海报", "Print the poster"},
	"poster.title":                         {"邻里互助 · 扫码加入", "Neighbours helping neighbours: scan to join"},
	"poster.body":                          {"在 App 中选择「加入社区」，扫描二维码或输入下方加入码。", "In the app choose “Join a community”, then scan the code or type it below."},
	"poster.code":                          {"加入码", "Join code"},
	"poster.qr":                            {"加入码二维码", "QR code of the join code"},
	"members.title":                        {"成员", "Members"},
	"members.name":                         {"姓名", "Name"},
	"members.volunteer":                    {"志愿服务楼栋（编号，逗号分隔）", "Volunteer buildings (ids, comma-separated)"},
	"members.joined":                       {"加入时间", "Joined"},
	"members.removed":                      {"已移除", "Removed"},
	"members.setrole":                      {"修改角色", "Change role"},
	"members.remove":                       {"移除成员…", "Remove member…"},
	"members.confirm":                      {"确认移除（其所有设备将退出登录）", "Remove (all their devices are signed out)"},
	"members.saved":                        {"角色已修改。", "Role changed."},
	"members.gone":                         {"成员已移除。", "Member removed."},
	"policy.title":                         {"升级规则", "Escalation policy"},
	"policy.intro":                         {"求助在多长时间内无人满足就进入待办队列（1 分钟至 30 天），修改后立即适用于所有等待中的求助。", "How long a request may wait for neighbours before it enters the queue (1 minute to 30 days); a change applies at once to every request still waiting."},
	"policy.critical":                      {"危急（分钟）", "Critical (minutes)"},
	"policy.urgent":                        {"紧急（分钟）", "Urgent (minutes)"},
	"policy.routine":                       {"一般（分钟）", "Routine (minutes)"},
	"policy.hold":                          {"危急求助也先由工作人员决定（不自动转办热线）", "Hold critical requests for staff (do not forward them automatically)"},
	"policy.saved":                         {"规则已保存。", "Policy saved."},
	"sessions.title":                       {"登录设备", "Signed-in devices"},
	"sessions.intro":                       {"您的 App 与工作台登录都列在这里；结束一个登录，该设备下次操作时即退出。", "Your app and console sign-ins; ending one signs that device out on its next request."},
	"sessions.client":                      {"设备", "Device"},
	"sessions.since":                       {"登录时间", "Signed in"},
	"sessions.last":                        {"最近刷新", "Last refreshed"},
	"sessions.this":                        {"（当前浏览器）", "(this browser)"},
	"sessions.console":                     {"工作台", "console"},
	"sessions.ended":                       {"已退出", "signed out"},
	"sessions.revoke":                      {"结束此登录", "Sign this out"},
	"communities.title":                    {"选择社区", "Choose a community"},
	"error.title":                          {"出错了", "Something went wrong"},
	"error.forbidden":                      {"您无权查看此页面。", "You may not see this page."},
	"error.notfound":                       {"找不到该页面或记录。", "There is no such page or record."},
	"error.internal":                       {"服务器内部错误，请稍后重试。", "Internal error: please try again later."},
	"error.csrf":                           {"请求被拒绝：表单已过期或来自其他网站。请刷新页面后重试。", "Refused: the form expired or came from another site. Reload the page and try again."},
	"urgency.URGENCY_CRITICAL":             {"危急", "Critical"},
	"urgency.URGENCY_URGENT":               {"紧急", "Urgent"},
	"urgency.URGENCY_ROUTINE":              {"一般", "Routine"},
	"urgency.URGENCY_UNSPECIFIED":          {"未定", "Unset"},
	"role.ROLE_RESIDENT":                   {"居民", "Resident"},
	"role.ROLE_VOLUNTEER":                  {"志愿者", "Volunteer"},
	"role.ROLE_STAFF":                      {"工作人员", "Staff"},
	"role.ROLE_ADMIN":                      {"管理员", "Admin"},
	"role.ROLE_UNSPECIFIED":                {"未定", "Unset"},
	"case.CASE_STATE_WAITING":              {"等待送达热线", "Waiting for the hotline"},
	"case.CASE_STATE_OPEN":                 {"热线办理中", "Open at the hotline"},
	"case.CASE_STATE_CLOSED":               {"已办结", "Closed"},
	"case.CASE_STATE_STUCK":                {"转办受阻", "Stuck"},
	"case.CASE_STATE_UNSPECIFIED":          {"未知", "Unknown"},
	"sat.SATISFACTION_SATISFIED":           {"满意", "satisfied"},
	"sat.SATISFACTION_BASICALLY_SATISFIED": {"基本满意", "basically satisfied"},
	"sat.SATISFACTION_UNSATISFIED":         {"不满意", "unsatisfied"},
	"sat.SATISFACTION_UNSPECIFIED":         {"未评价", "not rated"},
	"whom.RECIPIENT_SELF":                  {"本人", "Themselves"},
	"whom.RECIPIENT_CHILD":                 {"儿童", "A child"},
	"whom.RECIPIENT_INFANT":                {"婴儿", "An infant"},
	"whom.RECIPIENT_ELDERLY":               {"老人", "An elderly person"},
	"whom.RECIPIENT_PREGNANT":              {"孕妇", "A pregnant woman"},
	"whom.RECIPIENT_CHRONIC_ILLNESS":       {"慢性病患者", "Someone chronically ill"},
	"whom.RECIPIENT_UNSPECIFIED":           {"未说明", "Not said"},
	"whom.months":                          {"%d 个月", "%d months"},
	"whom.alone":                           {"独居", "lives alone"},
	"sign.difficulty_breathing":            {"呼吸困难", "difficulty breathing"},
	"sign.blue_lips":                       {"嘴唇发紫", "blue lips"},
	"sign.low_oxygen":                      {"血氧偏低", "low oxygen"},
	"sign.chest_pain":                      {"胸痛", "chest pain"},
	"sign.unconscious":                     {"意识不清", "unconscious"},
	"sign.convulsions":                     {"抽搐", "convulsions"},
	"sign.stroke":                          {"疑似中风", "signs of stroke"},
	"sign.coughing_blood":                  {"咳血", "coughing blood"},
	"sign.vomiting_blood":                  {"吐血", "vomiting blood"},
	"sign.infant_fever":                    {"三个月以下婴儿发烧", "fever in a baby under three months"},
	"sign.fever_stiff_neck":                {"发烧伴颈部僵硬", "fever with a stiff neck"},
	"sign.infant_dehydration":              {"婴幼儿长时间无尿", "a small child with no urine"},
	"dur.m":                                {"%d 分钟", "%d min"},
	"dur.h":                                {"%d 小时 %d 分", "%d h %d min"},
	"dur.d":                                {"%d 天 %d 小时", "%d d %d h"},
	"bucket.0":                             {"≤30分钟", "≤30 min"},
	"bucket.1":                             {"≤1小时", "≤1 h"},
	"bucket.2":                             {"≤2小时", "≤2 h"},
	"bucket.3":                             {"≤6小时", "≤6 h"},
	"bucket.4":                             {"≤1天", "≤1 day"},
	"bucket.5":                             {"≤3天", "≤3 days"},
	"bucket.6":                             {">3天", ">3 days"},
	"list.sep":                             {"、", ", "},

	// Domain refusals the console shows in Chinese (in English, the
	// domain's own message).
	"reason.not_staff_of_community": {"只有本社区的工作人员可以这样做。", ""},
	"reason.role_not_allowed":       {"只有管理员可以设置或修改管理员。", ""},
	"reason.admin_only":             {"只有管理员可以这样做。", ""},
	"reason.description_too_long":   {"案件描述过长（最多 3900 字）。", ""},
	"reason.reason_required":        {"请填写原因。", ""},
	"reason.reason_too_long":        {"原因过长（最多 500 字）。", ""},
	"reason.already_forwarded":      {"该求助已转办过热线。", ""},
	"reason.already_decided":        {"该求助已被转办或标记为不转办。", ""},
	"reason.handoff_in_progress":    {"邻居的交接正在进行中；请先取消交接再转办。", ""},
	"reason.post_not_open":          {"该求助已不再开放。", ""},
	"reason.case_not_stuck":         {"该求助没有受阻的案件可以重发。", ""},
	"reason.no_phone_consent":       {"居民未同意向热线提供电话。", ""},
	"reason.post_not_found":         {"找不到该求助。", ""},
	"reason.not_in_queue":           {"该求助不在待办队列中。", ""},
	"reason.not_a_request":          {"只有求助可以转办热线。", ""},
	"reason.deadline_out_of_range":  {"时限须在 1 分钟到 30 天之间。", ""},
	"reason.role_invalid":           {"请选择角色：居民、志愿者、工作人员或管理员。", ""},
	"reason.buildings_required":     {"请填写该志愿者服务的楼栋。", ""},
	"reason.too_many_buildings":     {"一位志愿者最多服务 20 栋楼。", ""},
	"reason.building_unknown":       {"本社区没有这个楼栋。", ""},
	"reason.member_not_found":       {"找不到该成员，或已被移除。", ""},
	"reason.too_many_drop_points":   {"一栋楼最多 20 个投放点。", ""},
	"reason.valid_for_out_of_range": {"加入码有效期须在 1 分钟到 90 天之间。", ""},
	"reason.max_uses_out_of_range":  {"加入码可用次数须在 1 到 10000 之间。", ""},
	"reason.community_not_found":    {"找不到该社区。", ""},
	"reason.device_not_found":       {"找不到该设备。", ""},
}

// enumKey is the message key of a protobuf enum value under prefix.
func enumKey(prefix string, v interface{ String() string }) string { return prefix + "." + v.String() }

// categoryName is an item category's name in lang.
func categoryName(lang, key string) string {
	c := catalog.Category(key)
	if !c.Valid() {
		return key
	}
	if lang == langEN {
		return c.DisplayEN()
	}
	return c.DisplayZH()
}

// signName is an emergency sign's name in lang (the code if unknown).
func signName(lang, code string) string {
	if _, ok := messages["sign."+code]; ok {
		return tr(lang, "sign."+code)
	}
	return strings.ReplaceAll(code, "_", " ")
}
