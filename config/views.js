/** Server-rendered EJS views for the admin page (views/admin/*.ejs, layout views/admin/layout.ejs). */
module.exports.views = {
  extension: 'ejs',
  layout: 'admin/layout',
};
