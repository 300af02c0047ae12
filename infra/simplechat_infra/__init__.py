"""The AWS deployment of simplechat as CDK constructs: auth, upstream config, chat API, web site."""
