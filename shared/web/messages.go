package web

// messages holds every text of the pages, by key and language.
var messages = map[string]map[Lang]string{
	"brand":         {ZH: "观测云", EN: "Guance"},
	"product":       {ZH: "观测云商业版 · 阿里云云市场", EN: "Guance Commercial Plan · Alibaba Cloud Marketplace"},
	"lang.switch":   {ZH: "English", EN: "中文"},
	"lang.label":    {ZH: "切换语言", EN: "Change language"},
	"footer":        {ZH: "有疑问？请联系观测云客服。", EN: "Questions? Contact Guance support."},
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
	"activate.help.uid": {
		ZH: "阿里云账号 ID：在阿里云控制台右上角主账号头像菜单中查看；RAM 用户的主账号 UID 是“@”后面的数字。",
		EN: "Account ID: in the Alibaba Cloud console, the avatar menu of the main account (top right); for a RAM user, the main account UID is the number after the \"@\".",
	},
	"activate.help.instance": {
		ZH: "商品实例 ID：云市场 > 已购买的服务 列表中。",
		EN: "Product instance ID: in Marketplace > Purchased Services.",
	},
	"activate.expires": {ZH: "本页面在 %s（北京时间）前有效。", EN: "This page stays valid until %s (Beijing time)."},

	"error.head.again": {ZH: "请回到云市场重新进入", EN: "Please start again from the marketplace"},
	"error.next.again": {
		ZH: "请回到阿里云云市场 > 已购买的服务，再次点击“免登”（Login Without Password）。",
		EN: "Go back to Alibaba Cloud Marketplace > Purchased Services and click Login Without Password again.",
	},
	"error.next.retry": {
		ZH: "请稍候片刻，然后回到云市场 > 已购买的服务再次点击“免登”。如果问题持续，请联系观测云客服。",
		EN: "Wait a moment, then go back to Marketplace > Purchased Services and click Login Without Password again. If it keeps happening, contact Guance support.",
	},
	"error.token":    {ZH: "此链接的签名无效，可能被修改过。", EN: "This link's signature is not valid; it may have been altered."},
	"error.params":   {ZH: "此链接缺少信息或格式不正确。", EN: "This link is incomplete or malformed."},
	"error.expired":  {ZH: "此链接已过期：免登链接只在几分钟内有效。", EN: "This link has expired: Login Without Password links are valid for a few minutes only."},
	"error.future":   {ZH: "此链接的时间晚于我们的时钟。请检查您的设备时间后重试。", EN: "This link is dated later than our clock. Check your device's clock and try again."},
	"error.replayed": {ZH: "此链接已经使用过，每个免登链接只能使用一次。", EN: "This link was already used; each Login Without Password link works once."},
	"error.unknown": {
		ZH: "我们找不到这个商品实例。如果您刚刚购买，开通可能仍在处理中。",
		EN: "We cannot find this product instance. If you just bought it, the purchase may still be processing.",
	},
	"error.unavailable":   {ZH: "我们暂时无法完成操作。", EN: "We could not complete this right now."},
	"error.released.head": {ZH: "服务已关闭", EN: "The service was closed"},
	"error.released": {
		ZH: "此商品实例已释放，观测云商业版服务已关闭。相关工作空间已转回费用中心账号结算。",
		EN: "This product instance was released and the Guance Commercial Plan service is closed. Its workspaces went back to billing center settlement.",
	},
	"error.released.next": {ZH: "如需继续使用，请在云市场重新购买。", EN: "To use it again, buy the plan again on the marketplace."},
	"error.frozen.head":   {ZH: "服务已冻结", EN: "The service is frozen"},
	"error.frozen": {
		ZH: "此商品实例因欠费已冻结，数据会保留。",
		EN: "This product instance is frozen because of unpaid bills. Your data is kept.",
	},
	"error.frozen.next":  {ZH: "请在阿里云费用中心结清欠费，服务将自动恢复。", EN: "Pay the outstanding bill in the Alibaba Cloud billing center; the service resumes by itself."},
	"error.session.head": {ZH: "会话已结束", EN: "Your session has ended"},
	"error.session":      {ZH: "您的开通会话已过期或不存在。", EN: "Your activation session expired or does not exist."},
	"error.csrf":         {ZH: "表单已过期，请刷新页面后重试。", EN: "The form has expired. Reload the page and try again."},
	"error.csrf.next":    {ZH: "返回开通页面。", EN: "Go back to the activation page."},
	"error.notfound":     {ZH: "页面不存在。", EN: "There is no such page."},
}
