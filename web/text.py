"""Every text the pages show, in one catalog: Chinese first, English available (`?lang=en`, then
kept in a cookie). The browser's Accept-Language is not followed: a hall's screens speak Chinese
whatever the machine was set up with. A key missing in English falls back to the Chinese."""

from __future__ import annotations

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "title": "12345 热线",
        "login.heading": "登录",
        "login.name": "用户名",
        "login.password": "密码",
        "login.submit": "登录",
        "login.failed": "用户名或密码错误。",
        "login.throttled": "尝试次数过多，请一分钟后再试。",
        "login.disabled": "该账号已停用，请联系管理员。",
        "login.csrf": "页面已过期，请重新登录。",
        "login.expired": "登录已超时，请重新登录。",
        "home.heading": "工作台",
        "home.who": "当前用户",
        "home.logout": "退出登录",
        "role.agent": "话务员",
        "role.supervisor": "值班长",
        "role.admin": "管理员",
        "page.desk": "坐席工作台",
        "page.console": "值班长控制台",
        "page.wallboard": "大厅大屏",
        "page.admin": "用户管理",
        "page.forbidden": "您的角色无权打开此页面。",
        "admin.display": "姓名",
        "admin.role": "角色",
        "admin.status": "状态",
        "admin.active": "启用",
        "admin.disabled": "已停用",
        "admin.disable": "停用",
        "admin.enable": "启用",
        "admin.new": "新建账号",
        "admin.add": "添加",
        "admin.reset": "重设密码",
        "admin.new_password": "新密码",
        "admin.set_password": "设置密码",
        "admin.done": "已保存。",
        "admin.exists": "该用户名已存在。",
        "admin.weak": "密码至少 10 个字符。",
        "admin.unknown": "没有这个账号。",
        "admin.bad": "用户名只能包含字母、数字和 _ . @ -，角色须为话务员、值班长或管理员。",
        "admin.self": "不能停用自己的账号。",
        "lang.other": "English",
    },
    "en": {
        "title": "12345 Hotline",
        "login.heading": "Log in",
        "login.name": "User name",
        "login.password": "Password",
        "login.submit": "Log in",
        "login.failed": "Wrong user name or password.",
        "login.throttled": "Too many tries: wait a minute and try again.",
        "login.disabled": "This account is disabled: ask an administrator.",
        "login.csrf": "The page had expired: log in again.",
        "login.expired": "Your session timed out: log in again.",
        "home.heading": "Workspace",
        "home.who": "Logged in as",
        "home.logout": "Log out",
        "role.agent": "Agent",
        "role.supervisor": "Supervisor",
        "role.admin": "Administrator",
        "page.desk": "Agent desk",
        "page.console": "Supervisor console",
        "page.wallboard": "Hall wallboard",
        "page.admin": "Users",
        "page.forbidden": "Your role may not open this page.",
        "admin.display": "Name",
        "admin.role": "Role",
        "admin.status": "Status",
        "admin.active": "Active",
        "admin.disabled": "Disabled",
        "admin.disable": "Disable",
        "admin.enable": "Enable",
        "admin.new": "New account",
        "admin.add": "Add",
        "admin.reset": "Reset a password",
        "admin.new_password": "New password",
        "admin.set_password": "Set password",
        "admin.done": "Saved.",
        "admin.exists": "That user name is taken.",
        "admin.weak": "A password has at least 10 characters.",
        "admin.unknown": "No such account.",
        "admin.bad": "A user name holds letters, digits and _ . @ - only; the role is agent, supervisor or admin.",
        "admin.self": "You cannot disable your own account.",
        "lang.other": "中文",
    },
}
LANGUAGES = tuple(TEXT)


LANG_COOKIE = "hotline_lang"


def language(query: str | None, cookie: str | None) -> str:
    """`?lang=` first, then the cookie it left, else Chinese."""
    for choice in (query, cookie):
        if choice in TEXT:
            return str(choice)
    return "zh"


def text(lang: str, key: str) -> str:
    return TEXT.get(lang, {}).get(key) or TEXT["zh"][key]
