package i18n

// catalogue holds every text of the pages and mails, by key. Keys are
// grouped by where they appear; %s and %d are filled by the caller.
var catalogue = map[string]text{
	// Every page.
	"brand":       {ZH: "观测云", EN: "Guance"},
	"product":     {ZH: "观测云商业版 · 阿里云云市场", EN: "Guance Commercial Plan · Alibaba Cloud Marketplace"},
	"lang.name":   {ZH: "中文", EN: "English"},
	"lang.label":  {ZH: "语言", EN: "Language"},
	"lang.switch": {ZH: "切换到 English", EN: "Switch to 中文"},
	"footer":      {ZH: "有疑问？请联系观测云客服。", EN: "Questions? Contact Guance support."},
	"skip":        {ZH: "跳到正文", EN: "Skip to content"},

	// The Guance sites: location (code) · provider.
	"site.cn1": {ZH: "杭州（cn1）· 阿里云", EN: "Hangzhou (cn1) · Alibaba Cloud"},
	"site.cn2": {ZH: "宁夏（cn2）· AWS 中国", EN: "Ningxia (cn2) · AWS China"},
	"site.cn4": {ZH: "广州（cn4）· 华为云", EN: "Guangzhou (cn4) · Huawei Cloud"},
	"site.cn6": {ZH: "香港（cn6）· 阿里云国际站", EN: "Hong Kong (cn6) · Alibaba Cloud International"},
	"site.us1": {ZH: "俄勒冈（us1）· AWS", EN: "Oregon (us1) · AWS"},
	"site.eu1": {ZH: "法兰克福（eu1）· AWS", EN: "Frankfurt (eu1) · AWS"},
	"site.ap1": {ZH: "新加坡（ap1）· AWS", EN: "Singapore (ap1) · AWS"},
	"site.za1": {ZH: "南非（za1）· 华为云", EN: "South Africa (za1) · Huawei Cloud"},
	"site.id1": {ZH: "雅加达（id1）· 腾讯云", EN: "Jakarta (id1) · Tencent Cloud"},

	// The activation page.
	"activate.head": {ZH: "开通观测云商业版", EN: "Activate the Guance Commercial Plan"},
	"activate.lead": {
		ZH: "您在阿里云云市场购买的观测云商业版已可开通。请告诉我们您是否已有观测云费用中心账号。",
		EN: "Your Guance Commercial Plan from the Alibaba Cloud Marketplace is ready to activate. Tell us whether you already have a Guance billing center account.",
	},
	"activate.purchase": {ZH: "本次购买", EN: "This purchase"},
	"activate.uid":      {ZH: "阿里云账号 ID", EN: "Alibaba Cloud account ID"},
	"activate.instance": {ZH: "商品实例 ID", EN: "Product instance ID"},
	"activate.what":     {ZH: "什么是费用中心账号？", EN: "What is a billing center account?"},
	"activate.what.body": {
		ZH: "观测云费用中心是结算观测云账单的地方，拥有独立的账号体系（用户名、邮箱、手机号、企业信息），与您登录工作空间的观测云账号相互独立。一个费用中心账号可以结算多个工作空间。开通后，您的阿里云账号将与费用中心账号关联，工作空间的账单由您的阿里云账号结算。",
		EN: "The Guance billing center is where Guance bills are settled. It has its own accounts (username, email, phone, company profile), separate from the Guance account you sign in to workspaces with. One billing center account can settle many workspaces. Activating links your Alibaba Cloud account to a billing center account, so that the workspace's bills are paid by your Alibaba Cloud account.",
	},
	"activate.register.head": {ZH: "没有费用中心账号", EN: "No billing center account"},
	"activate.register.body": {
		ZH: "注册观测云账号和费用中心账号，创建工作空间，并由您的阿里云账号结算其账单。",
		EN: "Register a Guance account and a billing center account, create a workspace, and have its bills settled by your Alibaba Cloud account.",
	},
	"activate.register.go": {ZH: "注册并开通", EN: "Register and activate"},
	"activate.bind.head":   {ZH: "已有费用中心账号", EN: "I have a billing center account"},
	"activate.bind.body": {
		ZH: "将本次购买绑定到您的费用中心账号，然后创建或选择由它结算的工作空间。",
		EN: "Bind this purchase to your billing center account, then create or choose the workspace it settles.",
	},
	"activate.bind.go":   {ZH: "绑定并开通", EN: "Bind and activate"},
	"activate.help.head": {ZH: "在哪里找到这些信息？", EN: "Where do I find these?"},
	"help.uid": {
		ZH: "阿里云账号 ID：在阿里云控制台右上角主账号头像菜单中查看；RAM 用户的主账号 UID 是“@”后面的数字。",
		EN: "Account ID: in the Alibaba Cloud console, the avatar menu of the main account (top right); for a RAM user, the main account UID is the number after the \"@\".",
	},
	"help.instance": {
		ZH: "商品实例 ID：云市场 > 已购买的服务 列表中。",
		EN: "Product instance ID: in Marketplace > Purchased Services.",
	},
	"activate.expires": {ZH: "本页面在 %s（北京时间）前有效。", EN: "This page stays valid until %s (Beijing time)."},

	// Error pages: a headline, what happened, what to do, and a link to do it.
	"err.token.head":   {ZH: "此链接无法使用", EN: "This link cannot be used"},
	"err.token.body":   {ZH: "此链接的签名无效，可能被修改过。", EN: "This link's signature is not valid; it may have been altered."},
	"err.link.head":    {ZH: "此链接不完整", EN: "This link is incomplete"},
	"err.link.body":    {ZH: "此链接缺少信息或格式不正确。", EN: "This link is missing information or is malformed."},
	"err.expired.head": {ZH: "此链接已过期", EN: "This link has expired"},
	"err.expired.body": {
		ZH: "免登链接只在几分钟内有效。",
		EN: "Login Without Password links are valid for a few minutes only.",
	},
	"err.future.head": {ZH: "此链接尚未生效", EN: "This link is not valid yet"},
	"err.future.body": {
		ZH: "此链接上的时间晚于我们的时间，可能是云市场与我们的时钟有偏差。请稍等一分钟再试。",
		EN: "This link is dated later than our clock, which can happen when the marketplace's clock and ours disagree. Wait a minute and try again.",
	},
	"err.replayed.head": {ZH: "此链接已经使用过", EN: "This link was already used"},
	"err.replayed.body": {
		ZH: "每个免登链接只能使用一次。如果您正在开通，可以继续；否则请获取新的链接。",
		EN: "Each Login Without Password link works once. If you are in the middle of activating, you can continue; otherwise get a new link.",
	},
	"err.unknown.head": {ZH: "找不到这次购买", EN: "We cannot find this purchase"},
	"err.unknown.body": {
		ZH: "我们和云市场都找不到这个商品实例。如果您刚刚购买，开通可能仍在处理中。",
		EN: "Neither we nor the marketplace know this product instance. If you just bought it, the purchase may still be processing.",
	},
	"err.market.head": {ZH: "云市场暂时没有响应", EN: "The marketplace is not answering"},
	"err.market.body": {
		ZH: "我们需要向阿里云云市场确认这次购买，但它暂时没有响应。",
		EN: "We need to confirm this purchase with the Alibaba Cloud Marketplace, and it is not answering right now.",
	},
	"err.unavailable.head": {ZH: "我们这边出了问题", EN: "Something went wrong on our side"},
	"err.unavailable.body": {ZH: "我们暂时无法完成操作，您的数据没有变化。", EN: "We could not complete this right now. Nothing was changed."},
	"err.released.head":    {ZH: "服务已关闭", EN: "This service was closed"},
	"err.released.body": {
		ZH: "此商品实例已释放，观测云商业版服务已关闭。",
		EN: "This product instance was released and its Guance Commercial Plan service is closed.",
	},
	"err.released.settled.body": {
		ZH: "此商品实例已释放，观测云商业版服务已关闭。由它结算的工作空间已转回费用中心账号结算，数据仍然保留。",
		EN: "This product instance was released and its Guance Commercial Plan service is closed. The workspaces it settled went back to billing center settlement; their data is kept.",
	},
	"err.released.next": {ZH: "如需继续使用，请在云市场重新购买。", EN: "To use the plan again, buy it again on the marketplace."},
	"err.frozen.head":   {ZH: "服务已冻结", EN: "This service is frozen"},
	"err.frozen.body": {
		ZH: "此商品实例因欠费已冻结，数据会保留。",
		EN: "This product instance is frozen because of unpaid bills. Your data is kept.",
	},
	"err.frozen.next": {
		ZH: "请在阿里云费用中心结清欠费，服务将自动恢复，然后再点击“免登”。",
		EN: "Pay the outstanding bill in the Alibaba Cloud billing center; the service resumes by itself. Then click Login Without Password again.",
	},
	"err.session.head": {ZH: "您的开通会话已结束", EN: "Your activation session has ended"},
	"err.session.body": {
		ZH: "开通会话会在一段时间后过期，或者此浏览器中没有会话。您已完成的步骤不会丢失。",
		EN: "Activation sessions expire after a while, or this browser has none. Steps you already completed are kept.",
	},
	"err.csrf.head": {ZH: "此表单已失效", EN: "This form has expired"},
	"err.csrf.body": {
		ZH: "为了您的安全，表单只在打开它的会话中有效。请返回页面后重新提交。",
		EN: "For your safety, a form works only in the session that opened it. Go back to the page and send it again.",
	},
	"err.form.head":     {ZH: "无法读取此表单", EN: "We could not read this form"},
	"err.form.body":     {ZH: "表单内容不完整或格式不正确。", EN: "The form was incomplete or malformed."},
	"err.origin.head":   {ZH: "请求已被拒绝", EN: "Request refused"},
	"err.origin.body":   {ZH: "此表单来自其他网站，我们没有处理它。", EN: "This form was sent from another site, so we did not act on it."},
	"err.notfound.head": {ZH: "页面不存在", EN: "Page not found"},
	"err.notfound.body": {ZH: "您访问的页面不存在。", EN: "There is no page at this address."},

	"next.marketplace": {
		ZH: "请回到阿里云云市场 > 已购买的服务，再次点击“免登”（Login Without Password）获取新的链接。",
		EN: "Go to Alibaba Cloud Marketplace > Purchased Services and click Login Without Password to get a new link.",
	},
	"next.retry": {
		ZH: "请稍候片刻再试。如果问题持续，请联系观测云客服。",
		EN: "Wait a moment and try again. If it keeps happening, contact Guance support.",
	},
	"next.back":          {ZH: "返回上一页重新操作。", EN: "Go back to the page and try again."},
	"action.marketplace": {ZH: "打开云市场 · 已购买的服务", EN: "Open Marketplace · Purchased Services"},
	"action.activate":    {ZH: "继续开通", EN: "Continue activating"},
	"action.back":        {ZH: "返回", EN: "Go back"},

	// The verification-code page.
	"code.head":          {ZH: "验证邮箱", EN: "Verify your email"},
	"code.lead":          {ZH: "我们会向您的邮箱发送一个 6 位验证码。", EN: "We will send a 6-digit code to your email."},
	"code.lead.username": {ZH: "我们会向该费用中心账号登记的邮箱发送一个 6 位验证码。", EN: "We will send a 6-digit code to the email on file for this billing center account."},
	"code.address":       {ZH: "邮箱", EN: "Email"},
	"code.username":      {ZH: "费用中心账号用户名", EN: "Billing center username"},
	"code.send":          {ZH: "发送验证码", EN: "Send code"},
	"code.resend":        {ZH: "重新发送验证码", EN: "Send a new code"},
	"code.sent":          {ZH: "验证码已发送至 %s，%d 分钟内有效。", EN: "We sent a code to %s. It is valid for %d minutes."},
	"code.sent.billing": {
		ZH: "如果该用户名存在，验证码已发送至其登记的邮箱，%d 分钟内有效。",
		EN: "If this username exists, we sent a code to the email on file. It is valid for %d minutes.",
	},
	"code.wait.before":   {ZH: "可在", EN: "You can ask for a new code in"},
	"code.wait.after":    {ZH: "秒后重新获取。", EN: "seconds."},
	"code.wait.ready":    {ZH: "现在可以重新获取验证码。", EN: "You can ask for a new code now."},
	"code.back":          {ZH: "返回开通页面", EN: "Back to the activation page"},
	"code.error.address": {ZH: "请输入有效的邮箱地址。", EN: "Enter a valid email address."},
	"code.error.username": {
		ZH: "请输入有效的用户名（2 至 64 个字母、数字或 . _ - @）。",
		EN: "Enter a valid username (2 to 64 letters, digits or . _ - @).",
	},
	"code.error.purpose":  {ZH: "无法识别验证码的用途。", EN: "This code request has an unknown purpose."},
	"code.error.cooldown": {ZH: "验证码刚刚发送过，请等待 %d 秒后再获取新的验证码。", EN: "A code was just sent. Wait %d seconds before asking for another.", EnOne: "A code was just sent. Wait %d second before asking for another."},
	"code.error.address-cap": {
		ZH:    "向该地址发送的验证码过多，请在 %d 分钟后重试。",
		EN:    "Too many codes went to this address. Try again in %d minutes.",
		EnOne: "Too many codes went to this address. Try again in %d minute.",
	},
	"code.error.session-cap": {
		ZH:    "本次开通会话获取验证码的次数过多，请在 %d 分钟后重试。",
		EN:    "This activation session asked for too many codes. Try again in %d minutes.",
		EnOne: "This activation session asked for too many codes. Try again in %d minute.",
	},
	"code.error.client-cap": {
		ZH:    "您的网络获取验证码的次数过多，请在 %d 分钟后重试。",
		EN:    "Too many codes were asked for from your network. Try again in %d minutes.",
		EnOne: "Too many codes were asked for from your network. Try again in %d minute.",
	},
	"code.error.mail":    {ZH: "邮件未能发送，请稍后重试。", EN: "We could not send the mail. Try again in a moment."},
	"code.error.wrong":   {ZH: "验证码不正确，还可尝试 %d 次。", EN: "The code is wrong. %d tries left.", EnOne: "The code is wrong. %d try left."},
	"code.error.expired": {ZH: "验证码已过期，请重新获取。", EN: "The code has expired. Ask for a new one."},
	"code.error.dead":    {ZH: "错误次数过多，该验证码已失效，请重新获取。", EN: "Too many wrong codes: this one no longer works. Ask for a new one."},
	"code.error.none":    {ZH: "没有待验证的验证码，请先获取验证码。", EN: "No code is waiting here. Ask for one first."},
	"code.error.format":  {ZH: "验证码是 6 位数字。", EN: "The code is 6 digits."},

	// The code mail.
	"mail.code.subject":  {ZH: "观测云验证码", EN: "Your Guance verification code"},
	"mail.greeting":      {ZH: "您好：", EN: "Hello,"},
	"mail.code.is":       {ZH: "您的验证码是：", EN: "Your verification code is:"},
	"mail.code.valid":    {ZH: "验证码 %d 分钟内有效，只能使用一次。", EN: "The code is valid for %d minutes and works once.", EnOne: "The code is valid for %d minute and works once."},
	"mail.code.ignore":   {ZH: "如果这不是您本人的操作，请忽略本邮件，您的账号不会有任何变化。", EN: "If this was not you, ignore this mail; nothing changes on any account."},
	"mail.signature":     {ZH: "观测云", EN: "Guance"},
	"mail.code.register": {ZH: "您正在注册观测云账号并开通阿里云云市场购买的观测云商业版。", EN: "You are registering a Guance account to activate the Guance Commercial Plan bought on the Alibaba Cloud Marketplace."},
	"mail.code.bind-billing": {
		ZH: "您正在将阿里云云市场购买的观测云商业版绑定到您的费用中心账号。",
		EN: "You are binding the Guance Commercial Plan bought on the Alibaba Cloud Marketplace to your billing center account.",
	},
	"mail.code.create-workspace": {ZH: "您正在创建由阿里云账号结算的观测云工作空间。", EN: "You are creating a Guance workspace settled by your Alibaba Cloud account."},
}
