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
