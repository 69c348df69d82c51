"""The paper's figures by stage, each written as PDF and PNG."""
