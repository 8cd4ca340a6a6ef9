module.exports.security = { cors: { allRequestsInheritedFrom: false } };
